"""Channels: platform connections, their webhooks, pullers and compliance events (connectors inside)."""
