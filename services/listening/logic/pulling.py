"""The puller supervisor: one background task per Mastodon / Bluesky / RSS channel.

Each task fetches a batch after the channel's saved cursor, stores its mentions and compliance events
AND the new cursor in one transaction, and only then moves on, so a crash or restart resumes from
the last stored batch (anything fetched again is de-duplicated by platform id). Failures back off
exponentially with jitter (honouring `Retry-After`) and are shown in the channel's status; errors
are recorded by class name only (an exception text may carry a URL with a token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.listening.connectors import (
    Backoff,
    Batch,
    FeedPuller,
    JetstreamPuller,
    MastodonPuller,
    ParseResult,
)
from services.listening.connectors.pulling import DEFAULT_TIMEOUT, USER_AGENT, Puller
from services.listening.crypto import SecretBox
from services.listening.logic import mentions as mentions_logic
from services.listening.logic.channels import (
    UnsafeURL,
    channel_cursor,
    channel_settings,
    check_public_url,
)
from services.listening.logic.inbound import store_result
from services.listening.models import Channel
from services.listening.schemas_channels import PULL_PLATFORMS
from services.listening.settings import ListeningSettings
from shared.db import utcnow
from shared.service import Runtime

log = logging.getLogger("rapport.listening.pulling")

# An empty poll refreshes `last_success_at` in the database at most this often.
STATUS_EVERY_S = 30.0


class ChannelGone(Exception):
    """The channel was deleted while its puller ran."""


def _guarded_client(allow_private: bool) -> httpx.AsyncClient:
    """The pullers' HTTP client; unless allowed, every request (redirects too) must go to a public host."""

    async def guard(request: httpx.Request) -> None:
        await check_public_url(str(request.url))

    hooks: dict[str, list[Any]] = {"request": [] if allow_private else [guard]}
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": USER_AGENT},
        event_hooks=hooks,
    )


def _cursor_json(cursor: Any) -> str | None:
    if cursor is None:
        return None
    if isinstance(cursor, BaseModel):
        cursor = cursor.model_dump()
    return json.dumps(cursor)


def build_puller(channel: Channel, *, box: SecretBox, settings: ListeningSettings) -> Puller[Any]:
    """The connector of a pull channel, starting from its saved cursor."""
    conf = channel_settings(channel)
    cursor = channel_cursor(channel)
    poll = max(
        settings.connector_min_poll_s, float(conf.get("poll_interval_s") or settings.connector_default_poll_s)
    )
    backoff = Backoff(base=1.0, cap=300.0)
    allow = settings.connector_allow_private_urls
    if channel.platform == "mastodon":
        secrets = box.open(channel.secrets)
        return MastodonPuller(
            conf["base_url"],
            access_token=secrets.get("access_token"),
            hashtag=conf.get("hashtag"),
            notifications=bool(conf.get("notifications")),
            query=conf.get("query"),
            since_id=cursor if isinstance(cursor, str) else None,
            poll_interval=poll,
            client=_guarded_client(allow),
            backoff=backoff,
        )
    if channel.platform == "rss":
        feed = cursor if isinstance(cursor, dict) else {}
        return FeedPuller(
            conf["url"],
            etag=feed.get("etag"),
            last_modified=feed.get("last_modified"),
            poll_interval=poll,
            client=_guarded_client(allow),
            backoff=backoff,
        )
    if channel.platform == "bluesky":
        return JetstreamPuller(
            conf["base_url"],
            cursor=cursor if isinstance(cursor, int) else None,
            wanted_dids=tuple(conf.get("wanted_dids") or ()),
            backoff=backoff,
        )
    raise ValueError(f"{channel.platform} is not a pull platform")


class PullerSupervisor:
    """Starts, stops and watches the pullers of this service instance."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, box: SecretBox, settings: ListeningSettings
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.settings = settings
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._stopped = asyncio.Event()

    def running(self) -> set[str]:
        """Ids of the channels whose puller runs here."""
        return {cid for cid, task in self.tasks.items() if not task.done()}

    async def start_all(self) -> int:
        """Start the pullers of every existing pull channel."""
        async with self.sessions() as session:
            stmt = select(Channel).where(Channel.platform.in_(sorted(PULL_PLATFORMS)))  # type: ignore[attr-defined]
            channels = list((await session.execute(stmt)).scalars())
        for channel in channels:
            self.start(channel)
        log.info("pullers.started", extra={"count": len(channels)})
        return len(channels)

    def start(self, channel: Channel) -> None:
        """Run the channel's puller (no-op for push channels or one already running)."""
        if channel.platform not in PULL_PLATFORMS or channel.id in self.running():
            return
        self.tasks[channel.id] = asyncio.create_task(
            self._run(channel.id, channel.tenant_id, channel), name=f"puller-{channel.id}"
        )

    async def stop(self, channel_id: str) -> None:
        """Stop the channel's puller and wait for it."""
        task = self.tasks.pop(channel_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run_forever(self) -> None:
        """Held in the runtime's tasks: when the service stops, this stops every puller."""
        try:
            await self._stopped.wait()
        finally:
            for channel_id in list(self.tasks):
                await self.stop(channel_id)

    async def _run(self, channel_id: str, tenant_id: str, channel: Channel) -> None:
        try:
            puller = build_puller(channel, box=self.box, settings=self.settings)
        except Exception as exc:
            await self._failed(channel_id, exc, failures=1)
            return
        failures = 0
        caught_up = False
        last_status = 0.0
        try:
            while True:
                if caught_up and puller.poll_interval > 0:
                    await asyncio.sleep(puller.poll_interval)
                caught_up = False
                try:
                    batch = await puller.fetch()
                    moved = batch.cursor != puller.cursor
                    if (
                        not batch.empty
                        or moved
                        or failures
                        or time.monotonic() - last_status > STATUS_EVERY_S
                    ):
                        await self._store(channel_id, tenant_id, batch)
                        last_status = time.monotonic()
                except asyncio.CancelledError:
                    raise
                except ChannelGone:
                    return
                except Exception as exc:
                    failures += 1
                    delay = puller.backoff.delay(failures)
                    retry_after = getattr(exc, "retry_after", None)
                    if isinstance(retry_after, int | float) and retry_after > delay:
                        delay = min(float(retry_after), max(puller.backoff.cap, delay))
                    await self._failed(channel_id, exc, failures=failures)
                    with contextlib.suppress(Exception):
                        await puller.reset()
                    await asyncio.sleep(delay)
                    continue
                puller.commit(batch)
                failures = 0
                caught_up = not batch.more
        finally:
            with contextlib.suppress(Exception):
                await puller.aclose()

    async def _store(self, channel_id: str, tenant_id: str, batch: Batch[Any]) -> None:
        """The batch, the cursor after it and the status, in one transaction."""
        result = ParseResult(mentions=batch.mentions, compliance=batch.compliance, skipped=batch.skipped)
        async with self.sessions() as session:
            channel = await session.get(Channel, channel_id)
            if channel is None or channel.tenant_id != tenant_id:
                raise ChannelGone(channel_id)
            try:
                out = await store_result(session, tenant_id=tenant_id, result=result)
                channel.cursor = _cursor_json(batch.cursor)
                channel.last_success_at = utcnow()
                channel.failures = 0
                channel.ingested += out.accepted
                await session.commit()
            except IntegrityError:
                # A webhook or another replica stored one of these meanwhile: the retry finds it.
                await session.rollback()
                raise
        if out.accepted:
            mentions_logic.analysis_wanted.set()
            log.info(
                "puller.stored",
                extra={"channel_id": channel_id, "accepted": out.accepted, "duplicates": out.duplicates},
            )

    async def _failed(self, channel_id: str, exc: Exception, *, failures: int) -> None:
        name = "UnsafeURL" if isinstance(exc, UnsafeURL) else type(exc).__name__
        if isinstance(exc, httpx.HTTPError) or hasattr(exc, "status"):
            name = f"{name} {getattr(exc, 'status', '')}".strip()
        log.warning("puller.failed", extra={"channel_id": channel_id, "error": name, "attempt": failures})
        with contextlib.suppress(Exception):
            async with self.sessions() as session:
                channel = await session.get(Channel, channel_id)
                if channel is not None:
                    channel.last_error = name[:200]
                    channel.last_error_at = utcnow()
                    channel.failures = failures
                    await session.commit()


async def start_pullers(rt: Runtime) -> None:
    """`on_start` hook: the secret box, and the pullers of existing channels under one runtime task."""
    settings = rt.settings
    assert isinstance(settings, ListeningSettings)
    box = SecretBox.from_settings(secret_key=settings.secret_key, var_dir=settings.var_dir)
    supervisor = PullerSupervisor(rt.sessions, box=box, settings=settings)
    rt.extra["secret_box"] = box
    rt.extra["pullers"] = supervisor
    if settings.connector_pullers:
        await supervisor.start_all()
    rt.tasks.append(asyncio.create_task(supervisor.run_forever(), name="pullers"))
