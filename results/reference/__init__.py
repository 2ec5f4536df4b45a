"""The papers' published numbers (package data, installed as sambench.reference_tables; see sambench/published.py)."""
