"""A partner's webhook endpoint on 127.0.0.1: records every request and answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    # When it arrived (time.monotonic()).
    at: float = 0.0


@dataclass
class Receiver:
    """Answers `script` status codes in turn, then `default`; `delay_s` before each answer."""

    url: str = ""
    default: int = 200
    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def of(self, webhook_id: str) -> list[Received]:
        """The requests carrying this `webhook-id`."""
        with self.lock:
            return [r for r in self.received if r.headers.get("webhook-id") == webhook_id]

    def of_event(self, event_id: str) -> list[Received]:
        """The requests whose body is the event `event_id`."""
        with self.lock:
            return [r for r in self.received if f'"id":"{event_id}"'.encode() in r.body]


@contextmanager
def receiver(**kw: object) -> Iterator[Receiver]:
    """Run a receiver for the block."""
    state = Receiver(**kw)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if state.delay_s:
                time.sleep(state.delay_s)
            status = state.answer()
            with state.lock:
                state.received.append(
                    Received(
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        answered=status,
                        at=time.monotonic(),
                    )
                )
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
