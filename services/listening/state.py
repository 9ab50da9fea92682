"""What a running listening app holds: one typed object, built by its app factory's `start`.

Everything here belongs to one app: its worker, batcher, quota, pullers, fetcher, compiled queries,
wake-up events and write lock. Two listening apps in one process share none of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.listening.channels.pullers import PullerSupervisor, ReferenceFetcher
from services.listening.channels.replies import ReplySender
from services.listening.mentions.analysing import AnalysisWorker
from services.listening.mentions.ingesting import IngestBatcher, IngestTraffic
from services.listening.queries.alerts import run_spike_checks
from services.listening.queries.backfill import run_backfills
from services.listening.queries.logic import QueryMatcher
from services.listening.settings import ListeningSettings
from services.listening.tenant_privacy.retention import retention_job
from services.listening.usage.quotas import IngestQuota
from services.listening.wakeups import Wakeups
from shared.secrets import SecretBox
from shared.service import Runtime


@dataclass(frozen=True)
class ListeningState:
    """listening's runtime state; routes reach it as `ListeningStateDep` (services.listening.deps)."""

    runtime: Runtime[ListeningSettings]
    wakeups: Wakeups
    traffic: IngestTraffic
    matcher: QueryMatcher
    quota: IngestQuota
    batcher: IngestBatcher
    worker: AnalysisWorker
    box: SecretBox
    pullers: PullerSupervisor
    fetcher: ReferenceFetcher
    replies: ReplySender

    @property
    def settings(self) -> ListeningSettings:
        return self.runtime.settings


@asynccontextmanager
async def listening_state(rt: Runtime[ListeningSettings]) -> AsyncIterator[ListeningState]:
    """Build the state and start its tasks (the analysis worker, the ingest group-commit writer, the
    pullers, the reference fetcher, the reply sender, query backfills, spike checks and the retention
    job) as service tasks
    (/readyz)."""
    settings = rt.settings
    wakeups = Wakeups()
    traffic = IngestTraffic()
    matcher = QueryMatcher(budget_s=settings.query_match_budget_ms / 1000)
    quota = IngestQuota(rt.sessions, limit=settings.ingest_posts_per_hour)
    box = SecretBox.from_settings(
        secret_key=settings.secret_key, var_dir=settings.var_dir, service=settings.service
    )
    state = ListeningState(
        runtime=rt,
        wakeups=wakeups,
        traffic=traffic,
        matcher=matcher,
        quota=quota,
        batcher=IngestBatcher(rt.sessions, traffic=traffic, wakeups=wakeups, quota=quota),
        worker=AnalysisWorker(
            rt.sessions,
            traffic=traffic,
            wakeups=wakeups,
            matcher=matcher,
            burst_rate=settings.ingest_burst_rate,
        ),
        box=box,
        pullers=PullerSupervisor(rt.sessions, box=box, settings=settings, wakeups=wakeups),
        fetcher=ReferenceFetcher(rt.sessions, box=box, settings=settings, wakeups=wakeups),
        replies=ReplySender(rt.sessions, box=box, settings=settings),
    )
    rt.spawn(state.worker.run(), name="analysis-worker")
    rt.spawn(state.batcher.run(), name="ingest-writer")
    rt.spawn(state.pullers.run_forever(), name="pullers")
    rt.spawn(state.fetcher.run(), name="reference-fetcher")
    rt.spawn(state.replies.run(), name="reply-sender")
    rt.spawn(retention_job(rt.sessions, settings).run(), name="retention")
    rt.spawn(
        run_backfills(
            rt.sessions,
            wanted=wakeups.backfill,
            write_lock=traffic.write_lock,
            batch=max(1, settings.query_backfill_batch),
            days=max(0, settings.query_backfill_days),
            pause_s=max(0.0, settings.query_backfill_pause_s),
            budget_s=matcher.budget_s,
        ),
        name="query-backfill",
    )
    rt.spawn(
        run_spike_checks(rt.sessions, interval_s=max(0.1, settings.spike_check_interval_s)),
        name="spike-checks",
    )
    yield state
