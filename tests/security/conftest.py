"""Fixtures of the security suite: extra gateways (tiny limits, a recording upstream), identity replicas."""

from __future__ import annotations

from tests.gateway.conftest import recorder, recorder_key, spawn_gateway
from tests.identity.conftest import spawn_identity

__all__ = ["recorder", "recorder_key", "spawn_gateway", "spawn_identity"]
