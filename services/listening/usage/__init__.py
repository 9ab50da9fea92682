"""The tenant's quotas: channels, queries and posts per hour, counted and read."""
