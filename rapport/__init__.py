"""Rapport command line: run the whole platform locally, seed a demo, import data."""
