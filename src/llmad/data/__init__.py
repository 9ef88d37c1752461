"""Data sources: tables of records with labels, run ids and timestamps."""
