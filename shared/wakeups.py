"""Waking a background worker the moment a commit queued work for it, instead of at its next poll.

A writer marks its session (`wake.mark(session)`); when that transaction really commits (a savepoint's
release fires SQLAlchemy's `after_commit` too, before anything is visible, and does not count), the
event the worker waits on is set. The event belongs to the session factory (`wake.of(sessions)`, kept in
the factory's `Session.info`), so two apps in one process never wake each other's workers. The outbox
relay, the webhook delivery worker and the reply sender use it; their polls remain for work written by
other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session


class CommitWake:
    """One named signal from the transactions that queue some kind of work to the worker that does it."""

    def __init__(self, name: str) -> None:
        self._marked = f"{name}.marked"
        self._event = f"{name}.event"
        _WAKES.append(self)

    def mark(self, session: AsyncSession) -> None:
        """This transaction queued work: wake the worker when it commits."""
        session.sync_session.info[self._marked] = True

    def of(self, sessions: async_sessionmaker[AsyncSession]) -> asyncio.Event:
        """The event set by the commits of `sessions` that were marked."""
        info: dict[str, object] = sessions.kw.setdefault("info", {})
        wake = info.get(self._event)
        if not isinstance(wake, asyncio.Event):
            wake = info[self._event] = asyncio.Event()
        return wake

    def _committed(self, session: Session) -> None:
        if session.info.pop(self._marked, False):
            wake = session.info.get(self._event)
            if isinstance(wake, asyncio.Event):
                wake.set()


_WAKES: list[CommitWake] = []


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for wake in _WAKES:
        wake._committed(session)


async def work_until_cancelled(
    *,
    run_once: Callable[[], Awaitable[int]],
    idle_for: Callable[[], Awaitable[float]],
    wake: asyncio.Event,
    fallback_s: float,
    failed_event: str,
    log: logging.Logger,
) -> None:
    """A leased worker's loop: do what is due (`run_once`, how many it took); when it took nothing, sleep
    `idle_for()` seconds (until the next item is due) unless a commit sets `wake` first. A failed round is
    logged as `failed_event` (its type only) and retried after `fallback_s`."""
    while True:
        wake.clear()
        try:
            done = await run_once()
            idle = 0.0 if done else await idle_for()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(failed_event, extra={"error": type(exc).__name__})
            idle = fallback_s
        if idle > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=idle)
