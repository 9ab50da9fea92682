"""The recorded platform payloads under tests/data/platforms (written by the project, see its README)."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import DATA

PLATFORMS = DATA / "platforms"


def raw(name: str) -> bytes:
    """A fixture's exact bytes (what a platform would POST)."""
    return (PLATFORMS / name).read_bytes()


def load(name: str) -> Any:
    """A JSON fixture, decoded."""
    return json.loads(raw(name))
