"""Fixtures of engagement's tests: a social platform's stand-in replies are sent to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.listening.channels.helpers import RecordingPlatform


@pytest.fixture
def platform() -> Iterator[RecordingPlatform]:
    """The Meta Graph API stand-in: records what is sent to it."""
    server = RecordingPlatform()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
