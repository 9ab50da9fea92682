"""Outbound partner webhooks: subscriptions, signed deliveries (Standard Webhooks), retries and the log.

The events come from the public streams (`consumers.py`): each one that a subscription wants becomes a
delivery row in the consumer's transaction (unique on subscription and event), holding the exact body
bytes that every attempt sends. A worker per process (`worker.py`) claims due rows with a lease (their
`next_attempt_at` moved past the attempt's timeout), so a killed process's claims come due again and a
row recorded as succeeded is never sent again. Nothing here imports the rest of engagement.
"""
