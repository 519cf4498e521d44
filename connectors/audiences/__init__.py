"""Ad-audience membership sink (SPEC S5 R17)."""
