"""Signed HTTP webhook sink (SPEC S5 R16)."""
