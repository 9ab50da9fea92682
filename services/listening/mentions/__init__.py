"""Mentions: ingesting, de-duplicating, grouping, analysing, correcting, importing and reading posts."""
