"""What every pull connector shares: batches with their cursor, back-off with jitter, bounded reads.

A puller never moves its cursor past items its caller has not taken: `batches()` advances it only when
the caller asks for the next batch, and `run(handle)` only after `handle` returned. Any error (network,
HTTP status, bad payload, a failing `handle`) backs off exponentially with jitter and retries from the
saved cursor, so an outage costs time, never items (re-delivered items are de-duplicated downstream).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect

from services.listening.channels.connectors.models import ComplianceEvent, InboundMention, ParseResult

log = logging.getLogger("rapport.listening.connectors")

CursorT = TypeVar("CursorT")
Sleep = Callable[[float], Awaitable[None]]
# Opens the TCP connection of a websocket to (host, port), e.g. only after checking the address is public.
OpenSocket = Callable[[str, int], Awaitable[socket.socket]]

USER_AGENT = "Rapport/0.1 (social listening; +https://github.com/rapport)"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_BODY = 5 * 1024 * 1024


@dataclass
class Batch(Generic[CursorT]):
    """Items pulled in one go and the cursor to save once they are stored."""

    cursor: CursorT
    mentions: list[InboundMention] = field(default_factory=list)
    compliance: list[ComplianceEvent] = field(default_factory=list)
    skipped: int = 0
    # More is waiting right now (a full page): fetch again at once instead of after the poll interval.
    more: bool = False

    def add(self, result: ParseResult) -> None:
        """A parsed message's items (pulled connectors get no id-only references)."""
        self.mentions.extend(result.mentions)
        self.compliance.extend(result.compliance)
        self.skipped += result.skipped

    @property
    def empty(self) -> bool:
        """No mentions and no compliance events."""
        return not self.mentions and not self.compliance


class FetchError(Exception):
    """A pull failed in a way worth retrying later."""


class HTTPFailure(FetchError):
    """The server answered with an error status."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class BodyTooLarge(FetchError):
    """The server sent more than we are willing to read."""


@dataclass
class Backoff:
    """Exponential back-off with "equal jitter": half the step fixed, half random, capped."""

    base: float = 1.0
    cap: float = 300.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        step = min(self.cap, self.base * self.factor ** max(attempt - 1, 0))
        return step / 2 + self.rng.uniform(0, step / 2)


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) in seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def raise_for_status(response: httpx.Response) -> None:
    """HTTPFailure for 4xx/5xx, carrying `Retry-After` for 429 and 503."""
    if response.status_code >= 400:
        retry = response.headers.get("Retry-After") if response.status_code in {429, 503} else None
        raise HTTPFailure(response.status_code, retry_after_seconds(retry))


async def read_limited(response: httpx.Response, limit: int = MAX_BODY) -> bytes:
    """The body of a streamed response, refusing more than `limit` bytes."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"{declared} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class WebSocketReader:
    """How a streaming puller opens and reads its websocket: batches of what arrives within `batch_window`
    seconds (at most `max_batch` messages). With `open_socket` the TCP connection is opened by it (an
    address check) and redirects, which would need another connection, are refused."""

    open_socket: OpenSocket | None = None
    open_timeout: float = 10.0
    max_message: int = 1024 * 1024
    batch_window: float = 1.0
    max_batch: int = 200
    ws: ClientConnection | None = None

    async def open(self, url: str, headers: dict[str, str] | None = None) -> None:
        """Connect to `url` (replacing no open socket: close first)."""
        sock: socket.socket | None = None
        if self.open_socket is not None:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "wss" else 80)
            async with asyncio.timeout(self.open_timeout):
                sock = await self.open_socket(parts.hostname or "", port)
        try:
            self.ws = await connect(
                url,
                sock=sock,
                open_timeout=self.open_timeout,
                max_size=self.max_message,
                additional_headers=headers,
            )
        except BaseException:
            if sock is not None:
                sock.close()
            raise

    async def read(self) -> list[str | bytes]:
        """What the open socket brings within `batch_window` seconds, at most `max_batch` messages."""
        assert self.ws is not None, "open the socket first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_window
        messages: list[str | bytes] = []
        while len(messages) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    messages.append(await self.ws.recv())
            except TimeoutError:
                break
        return messages

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close()


def new_http_client() -> httpx.AsyncClient:
    """The HTTP client pullers use when none is given: timeouts, redirects, an honest User-Agent."""
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT, follow_redirects=True, max_redirects=5, headers={"User-Agent": USER_AGENT}
    )


class Puller(ABC, Generic[CursorT]):
    """A connector that fetches from a platform; subclasses implement `fetch()` from `self.cursor`."""

    name = "puller"

    def __init__(
        self,
        *,
        cursor: CursorT,
        poll_interval: float,
        backoff: Backoff | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.cursor = cursor
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff()
        self._sleep: Sleep = sleep or asyncio.sleep
        self.failures = 0
        self.last_error: str | None = None
        self._caught_up = False

    @abstractmethod
    async def fetch(self) -> Batch[CursorT]:
        """Pull what is new after `self.cursor` (may be empty); raise on any failure."""

    async def reset(self) -> None:
        """Forget connection state after a failure, so the next fetch starts again from `self.cursor`."""
        return None

    async def aclose(self) -> None:
        """Release connections and clients this puller owns."""
        await self.reset()

    async def __aenter__(self) -> Puller[CursorT]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def commit(self, batch: Batch[CursorT]) -> None:
        """The caller has stored this batch: continue after it."""
        self.cursor = batch.cursor

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = type(exc).__name__
        delay = self.backoff.delay(self.failures)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > delay:
            delay = min(float(retry_after), max(self.backoff.cap, delay))
        # The exception text can carry URLs (tokens in queries) or payload fragments: log its class only.
        log.warning(
            "connector.fetch_failed",
            extra={
                "connector": self.name,
                "error": self.last_error,
                "attempt": self.failures,
                "delay": delay,
            },
        )
        try:
            await self.reset()
        except Exception as reset_exc:
            log.warning(
                "connector.reset_failed", extra={"connector": self.name, "error": type(reset_exc).__name__}
            )
        await self._sleep(delay)

    async def next_batch(self) -> Batch[CursorT]:
        """The next non-empty batch (or one that moves the cursor), retrying failures with back-off.

        Once a fetch has caught up (not `more`), the next one waits `poll_interval` seconds first.
        """
        while True:
            if self._caught_up and self.poll_interval > 0:
                await self._sleep(self.poll_interval)
            self._caught_up = False
            try:
                batch = await self.fetch()
            except Exception as exc:
                await self._failed(exc)
                continue
            self.failures = 0
            self.last_error = None
            self._caught_up = not batch.more
            if batch.empty and batch.cursor == self.cursor:
                continue
            return batch

    async def batches(self) -> AsyncGenerator[Batch[CursorT], None]:
        """Batches forever; each one's cursor is committed when the caller asks for the next."""
        while True:
            batch = await self.next_batch()
            yield batch
            self.commit(batch)

    async def run(self, handle: Callable[[Batch[CursorT]], Awaitable[None]]) -> None:
        """Forever: fetch, `await handle(batch)` (store it, save `batch.cursor`), then advance.

        When `handle` raises, the cursor stays where it was and the same items are fetched again after
        a back-off. Cancel the task to stop.
        """
        while True:
            batch = await self.next_batch()
            try:
                await handle(batch)
            except Exception as exc:
                await self._failed(exc)
                continue
            self.commit(batch)
