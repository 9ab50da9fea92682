"""The puller supervisor: one background task per Mastodon / Bluesky / RSS channel; and the reference
fetcher, which reads the mentions webhooks named by id only (Instagram @mentions).

Each puller task fetches a batch after the channel's saved cursor, stores its mentions and compliance
events AND the new cursor in one transaction, and only then moves on, so a crash or restart resumes from
the last stored batch (anything fetched again is de-duplicated by platform id). Failures back off
exponentially with jitter (honouring `Retry-After`) and are shown in the channel's status; errors
are recorded by class name only (an exception text may carry a URL with a token).

The reference fetcher claims due `MentionFetch` rows (a lease, so a crashed claim is retried), reads
each from the platform's API outside any transaction, then stores the mention and deletes the row in
one; failures are pushed back with the same back-off and shown in the channel's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.channels import leases
from services.listening.channels.connectors import (
    GRAPH_API,
    Backoff,
    Batch,
    FeedPuller,
    JetstreamPuller,
    MastodonPuller,
    MastodonStreamPuller,
    MentionReference,
    ParseResult,
    PayloadError,
    fetch_mentioned,
)
from services.listening.channels.connectors.pulling import DEFAULT_TIMEOUT, USER_AGENT, Puller
from services.listening.channels.inbound import store_result
from services.listening.channels.logic import channel_cursor, channel_settings, record_stored
from services.listening.channels.schemas import PULL_PLATFORMS
from services.listening.models import Channel, MentionFetch
from services.listening.settings import ListeningSettings
from services.listening.wakeups import Wakeups
from shared.db import begin_immediate, shielded, utcnow
from shared.egress import UnsafeURL, connect_public, guarded_client
from shared.secrets import SecretBox
from shared.wakeups import work_until_cancelled

log = logging.getLogger("rapport.listening.pulling")

# An empty poll refreshes `last_success_at` in the database at most this often.
STATUS_EVERY_S = 30.0


class ChannelGone(Exception):
    """The channel was deleted while its puller ran."""


class ChannelChanged(Exception):
    """The channel's settings or credentials were changed (maybe through another replica) while its puller
    ran: the batch in hand came from the old source and is dropped; the puller starts again."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel.id)
        self.channel = channel


def _source(channel: Channel) -> tuple[str, str]:
    """What a puller is built from."""
    return channel.settings, channel.secrets


def _guarded_client(allow_private: bool) -> httpx.AsyncClient:
    """The pullers' HTTP client (`shared.egress.guarded_client`): redirects followed, each one vetted."""
    return guarded_client(
        allow_private=allow_private,
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
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
        source: dict[str, Any] = {
            "access_token": secrets.get("access_token"),
            "hashtag": conf.get("hashtag"),
            "notifications": bool(conf.get("notifications")),
            "query": conf.get("query"),
            "since_id": cursor if isinstance(cursor, str) else None,
            "poll_interval": poll,
            "client": _guarded_client(allow),
            "backoff": backoff,
        }
        if conf.get("streaming"):
            return MastodonStreamPuller(
                conf["base_url"],
                streaming_url=conf.get("streaming_url"),
                open_socket=None if allow else connect_public,
                **source,
            )
        return MastodonPuller(conf["base_url"], **source)
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
            open_socket=None if allow else connect_public,
        )
    raise ValueError(f"{channel.platform} is not a pull platform")


class PullerSupervisor:
    """Runs the pullers of the channels this replica holds the lease of (services.listening.channels.leases),
    renewing them and taking free ones every `leases.RENEW_S`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: SecretBox,
        settings: ListeningSettings,
        wakeups: Wakeups,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.settings = settings
        self.wakeups = wakeups
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def running(self) -> set[str]:
        """Ids of the channels whose puller runs here."""
        return {cid for cid, task in self.tasks.items() if not task.done()}

    async def rebalance(self) -> set[str]:
        """Renew and take leases; run the pullers of the channels held here, stop the others; return them."""
        async with self.sessions() as session:
            pull = col(Channel.platform).in_(sorted(PULL_PLATFORMS))
            ids = list(await session.scalars(select(col(Channel.id)).where(pull)))
            owned = await leases.claim(session, channel_ids=ids, owner=self.owner, now=utcnow())
            # Only channels whose puller is not running here yet need their rows (settings, credentials).
            new = sorted(owned - self.running())
            starting: Iterable[Channel] = (
                await session.scalars(select(Channel).where(col(Channel.id).in_(new))) if new else []
            )
            for channel in starting:
                self._start(channel)
        for channel_id in self.running() - owned:
            log.info("puller.handed_over", extra={"channel_id": channel_id})
            await self.stop(channel_id)
        return owned

    async def take(self, channel: Channel, *, restart: bool = False) -> None:
        """Pull a new or changed channel here now, if no other replica holds it (one that does notices a
        change at its next store). `restart`: the running puller starts again from the stored channel."""
        if channel.platform not in PULL_PLATFORMS or not self.settings.connector_pullers:
            return
        async with self.sessions() as session:
            owned = await leases.claim(session, channel_ids=[channel.id], owner=self.owner, now=utcnow())
        if channel.id in owned:
            if restart:
                await self.stop(channel.id)
            self._start(channel)

    async def _release(self) -> None:
        async with self.sessions() as session:
            await leases.release(session, owner=self.owner)

    def _start(self, channel: Channel) -> None:
        if channel.id in self.running():
            return
        self.tasks[channel.id] = asyncio.create_task(
            self._run(channel.id, channel.tenant_id, channel), name=f"puller-{channel.id}"
        )

    async def stop(self, channel_id: str) -> None:
        """Stop the channel's puller here and wait for it."""
        task = self.tasks.pop(channel_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run_forever(self) -> None:
        """Held in the runtime's tasks: keeps the leases; when the service stops, stops every puller and
        gives its leases up."""
        try:
            while self.settings.connector_pullers:
                try:
                    await shielded(self.rebalance())
                except Exception:
                    log.exception("pullers.rebalance_failed")
                await asyncio.sleep(leases.RENEW_S)
            await asyncio.Event().wait()
        finally:
            for channel_id in list(self.tasks):
                await self.stop(channel_id)
            # Best effort and brief: leases not given up run out within leases.LEASE_S anyway.
            with contextlib.suppress(Exception):
                await shielded(self._release(), timeout=2.0)

    async def _run(self, channel_id: str, tenant_id: str, channel: Channel) -> None:
        try:
            puller = build_puller(channel, box=self.box, settings=self.settings)
        except Exception as exc:
            await shielded(self._failed(channel_id, exc, failures=1))
            return
        source = _source(channel)
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
                        # A stop (PATCH, hand-over, delete) lets the transaction finish first.
                        await shielded(self._store(channel_id, tenant_id, batch, source))
                        last_status = time.monotonic()
                except asyncio.CancelledError:
                    raise
                except ChannelGone:
                    return
                except ChannelChanged as changed:
                    log.info("puller.restarted", extra={"channel_id": channel_id})
                    with contextlib.suppress(Exception):
                        await puller.aclose()
                    try:
                        puller = build_puller(changed.channel, box=self.box, settings=self.settings)
                    except Exception as exc:
                        await shielded(self._failed(channel_id, exc, failures=1))
                        return
                    source, failures, caught_up = _source(changed.channel), 0, False
                    continue
                except Exception as exc:
                    failures += 1
                    delay = puller.backoff.delay(failures)
                    retry_after = getattr(exc, "retry_after", None)
                    if isinstance(retry_after, int | float) and retry_after > delay:
                        delay = min(float(retry_after), max(puller.backoff.cap, delay))
                    await shielded(self._failed(channel_id, exc, failures=failures))
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

    async def _store(
        self, channel_id: str, tenant_id: str, batch: Batch[Any], source: tuple[str, str]
    ) -> None:
        """The batch, the cursor after it and the status, in one transaction, if the channel still has the
        settings and credentials the puller was built from."""
        result = ParseResult(mentions=batch.mentions, compliance=batch.compliance, skipped=batch.skipped)
        async with self.sessions() as session:
            # Locked (the row on PostgreSQL, the database on SQLite) before the check, so a change committed
            # meanwhile cannot be overwritten by this cursor.
            await begin_immediate(session)
            channel = await session.get(Channel, channel_id, with_for_update=True)
            if channel is None or channel.tenant_id != tenant_id:
                raise ChannelGone(channel_id)
            if _source(channel) != source:
                raise ChannelChanged(channel)
            try:
                out = await store_result(session, tenant_id=tenant_id, channel_id=channel_id, result=result)
                channel.cursor = _cursor_json(batch.cursor)
                channel.failures = 0
                record_stored(channel, out.accepted)
                await session.commit()
            except IntegrityError:
                # A webhook or another replica stored one of these meanwhile: the retry finds it.
                await session.rollback()
                raise
        if out.accepted:
            self.wakeups.analysis.set()
            log.info(
                "puller.stored",
                extra={"channel_id": channel_id, "accepted": out.accepted, "duplicates": out.duplicates},
            )

    async def _failed(self, channel_id: str, exc: Exception, *, failures: int) -> None:
        name = _error_name(exc)
        log.warning("puller.failed", extra={"channel_id": channel_id, "error": name, "attempt": failures})
        with contextlib.suppress(Exception):
            async with self.sessions() as session:
                channel = await session.get(Channel, channel_id)
                if channel is not None:
                    channel.last_error = name
                    channel.last_error_at = utcnow()
                    channel.failures = failures
                    await session.commit()


def _error_name(exc: BaseException) -> str:
    """An error as the status shows it: its class and HTTP status, never its text (URLs, payloads)."""
    name = "UnsafeURL" if isinstance(exc, UnsafeURL) else type(exc).__name__
    if isinstance(exc, httpx.HTTPError) or hasattr(exc, "status"):
        name = f"{name} {getattr(exc, 'status', '')}".strip()
    return name[:200]


# A claimed row is not claimed again for this long: twice the 15 s read timeout, so a replica that dies
# mid-fetch delays that mention by at most this much (a fetch that outlives it may be repeated: harmless).
FETCH_LEASE = timedelta(seconds=30)
FETCH_BATCH = 16
# With nothing due, look again at least this often (other replicas queue rows too).
FETCH_IDLE_S = 5.0


class ReferenceFetcher:
    """Reads the mentions that webhooks named by id only, off the request path, crash-safe."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: SecretBox,
        settings: ListeningSettings,
        wakeups: Wakeups,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.wakeups = wakeups
        self.max_attempts = max(1, settings.connector_fetch_attempts)
        self.backoff = Backoff(base=max(0.01, settings.connector_fetch_retry_s), cap=3600.0)
        self.client = client or _guarded_client(settings.connector_allow_private_urls)
        self.fetched = 0

    async def run(self) -> None:
        """Forever: fetch what is due, else sleep until the next row is due or a delivery queues one."""
        try:
            await work_until_cancelled(
                run_once=self.run_once,
                idle_for=self._idle_for,
                wake=self.wakeups.fetch,
                fallback_s=FETCH_IDLE_S,
                failed_event="fetch.loop_failed",
                log=log,
            )
        finally:
            await self.client.aclose()

    async def run_once(self) -> int:
        """Fetch every claimable due row once; how many were claimed."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._process(row_id) for row_id in claimed))
        return len(claimed)

    async def _idle_for(self) -> float:
        async with self.sessions() as session:
            stmt = select(func.min(MentionFetch.next_attempt_at)).where(
                col(MentionFetch.gave_up_at).is_(None)
            )
            due = (await session.execute(stmt)).scalar_one_or_none()
        if due is None:
            return FETCH_IDLE_S
        return min(FETCH_IDLE_S, max(0.05, (due - utcnow()).total_seconds()))

    async def _claim(self) -> list[str]:
        now = utcnow()
        async with self.sessions() as session:
            stmt = (
                select(col(MentionFetch.id))
                .where(col(MentionFetch.gave_up_at).is_(None), col(MentionFetch.next_attempt_at) <= now)
                .order_by(col(MentionFetch.next_attempt_at))
                .limit(FETCH_BATCH)
            )
            candidates = list((await session.execute(stmt)).scalars())
            claimed: list[str] = []
            for row_id in candidates:
                # Conditional on still being due: another replica's claim in between wins.
                result = await session.execute(
                    update(MentionFetch)
                    .where(col(MentionFetch.id) == row_id, col(MentionFetch.next_attempt_at) <= now)
                    .values(next_attempt_at=now + FETCH_LEASE, attempts=MentionFetch.attempts + 1)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
            await session.commit()
        return claimed

    async def _load(self, row_id: str) -> tuple[MentionFetch, Channel] | None:
        """The claimed row and its channel; a row whose channel was deleted is dropped."""
        async with self.sessions() as session:
            row = await session.get(MentionFetch, row_id)
            if row is None:
                return None
            channel = await session.get(Channel, row.channel_id)
            if channel is None or channel.tenant_id != row.tenant_id:
                await session.delete(row)  # nothing left to read it with
                await session.commit()
                return None
            return row, channel

    async def _process(self, row_id: str) -> None:
        loaded = await self._load(row_id)
        if loaded is None:
            return
        row, channel = loaded
        try:
            reference = MentionReference.model_validate_json(row.reference)
            secrets = self.box.open(channel.secrets)
            token = secrets.get("access_token")
            if not isinstance(token, str) or not token:
                raise PayloadError("the channel has no access token")
            app_secret = secrets.get("app_secret")
            mention = await fetch_mentioned(
                reference,
                client=self.client,
                access_token=token,
                app_secret=app_secret if isinstance(app_secret, str) else None,
                graph_base=str(channel_settings(channel).get("graph_base_url") or GRAPH_API),
            )
            accepted = await self._store(row_id, row.tenant_id, channel.id, mention)
        except Exception as exc:
            permanent = isinstance(exc, PayloadError) or bool(getattr(exc, "permanent", False))
            await shielded(self._failed(row_id, exc, attempts=row.attempts, permanent=permanent))
            return
        self.fetched += 1
        log.info(
            "fetch.stored",
            extra={
                "channel_id": channel.id,
                "fetch_id": row_id,
                "accepted": accepted,
                "attempt": row.attempts,
            },
        )

    async def _store(self, row_id: str, tenant_id: str, channel_id: str, mention: Any) -> int:
        """The fetched mention (if it had text) and the row's removal, in one transaction."""
        result = ParseResult(mentions=[mention] if mention is not None else [])
        async with self.sessions() as session:
            row = await session.get(MentionFetch, row_id)
            if row is None:
                return 0  # another replica stored it after an expired lease
            try:
                out = await store_result(session, tenant_id=tenant_id, channel_id=channel_id, result=result)
                await session.delete(row)
                channel = await session.get(Channel, channel_id)
                if channel is not None:
                    record_stored(channel, out.accepted)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise
        if out.accepted:
            self.wakeups.analysis.set()
        return out.accepted

    async def _failed(self, row_id: str, exc: Exception, *, attempts: int, permanent: bool) -> None:
        name = _error_name(exc)
        now = utcnow()
        give_up = permanent or attempts >= self.max_attempts
        delay = self.backoff.delay(attempts)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > delay:
            delay = min(float(retry_after), self.backoff.cap)
        log.warning(
            "fetch.failed",
            extra={"fetch_id": row_id, "error": name, "attempt": attempts, "gave_up": give_up},
        )
        with contextlib.suppress(Exception):
            async with self.sessions() as session:
                row = await session.get(MentionFetch, row_id)
                if row is None:
                    return
                row.last_error = name
                if give_up:
                    row.gave_up_at = now
                else:
                    row.next_attempt_at = now + timedelta(seconds=delay)
                channel = await session.get(Channel, row.channel_id)
                if channel is not None:
                    channel.last_error = name
                    channel.last_error_at = now
                await session.commit()
