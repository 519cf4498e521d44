"""Segment-spec / Customer.io Data Pipelines compatible HTTP API (SPEC S2.1, recipe R19)."""
