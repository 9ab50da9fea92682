"""A small Server-Sent Events reader over an httpx streaming response, for the live inbox's tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

STREAM = "/v1/conversations/stream"
# Per read: far above the stack's keep-alive interval (RAPPORT_STREAM_HEARTBEAT_S), so a read that
# times out means the stream went silent.
TIMEOUT = httpx.Timeout(10.0, read=20.0)


@dataclass(frozen=True)
class Frame:
    """One event of the stream: its `id:` (a stream sequence), `event:` and `data:` (the CloudEvent)."""

    id: int
    event: str
    data: dict[str, Any]


class EventReader:
    """Reads an event stream frame by frame; comments (`: open`, `: keep-alive`) are counted apart."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()
        self.comments: list[str] = []

    def next(self) -> Frame | str:
        """The next frame: a `Frame`, or a comment's text."""
        fields: dict[str, str] = {}
        comment: str | None = None
        for line in self._lines:
            if line == "":
                if fields:
                    return Frame(id=int(fields["id"]), event=fields["event"], data=json.loads(fields["data"]))
                if comment is not None:
                    self.comments.append(comment)
                    return comment
                continue
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        raise AssertionError("the event stream ended")

    def until(self, match: Callable[[Frame], bool], *, what: str, timeout: float = 30.0) -> list[Frame]:
        """Every event up to and including the first that `match` accepts (keep-alives return control, so
        the deadline is checked at least once per interval)."""
        deadline = time.monotonic() + timeout
        seen: list[Frame] = []
        while time.monotonic() < deadline:
            frame = self.next()
            if isinstance(frame, Frame):
                seen.append(frame)
                if match(frame):
                    return seen
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; saw {seen!r}")

    def comments_until(self, count: int, *, timeout: float = 30.0) -> list[Frame]:
        """Read until `count` more comments (keep-alives) came; the events seen meanwhile."""
        deadline = time.monotonic() + timeout
        target = len(self.comments) + count
        seen: list[Frame] = []
        while len(self.comments) < target:
            assert time.monotonic() < deadline, f"fewer than {count} keep-alives within {timeout}s"
            frame = self.next()
            if isinstance(frame, Frame):
                seen.append(frame)
        return seen


@contextmanager
def open_stream(
    base_url: str, *, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None
) -> Iterator[EventReader]:
    """Open the live inbox through `base_url` (200, `text/event-stream`) and read its `: open`: from then on
    every change is delivered."""
    with (
        httpx.Client(base_url=base_url, timeout=TIMEOUT) as http,
        http.stream("GET", STREAM, headers=headers, params=params) as response,
    ):
        if response.status_code != 200:
            response.read()
            raise AssertionError(f"stream answered {response.status_code}: {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in response.headers
        reader = EventReader(response)
        assert reader.next() == "open"
        yield reader


def refused(client: httpx.Client, status: int, **kwargs: Any) -> dict[str, Any]:
    """Ask for the stream expecting a problem (streamed, so that an unexpected 200 cannot hang the test)."""
    with client.stream("GET", STREAM, **kwargs) as response:
        if response.status_code == 200:
            raise AssertionError("the stream opened")
        response.read()
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        return body
