"""Listening queries: CRUD, matching, backfill, volume, share of voice and spike alerts."""
