"""PostgreSQL warehouse sink (SPEC S5 R16, R18)."""
