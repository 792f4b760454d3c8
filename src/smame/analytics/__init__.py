"""Analyses over the system's data and the seed's decisions (SPEC S8, A1–A3).

The analytics read the MDMS and ask the HES; neither knows about them."""
