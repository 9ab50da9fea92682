"""The recorded platform payloads under tests/data/platforms (written by the project, see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "platforms"


def raw(name: str) -> bytes:
    """A fixture's exact bytes (what a platform would POST)."""
    return (DATA / name).read_bytes()


def load(name: str) -> Any:
    """A JSON fixture, decoded."""
    return json.loads(raw(name))
