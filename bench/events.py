"""The event layer's own cost: consumer and outbox-relay events/s and CPU per event.

    .venv/bin/python bench/events.py                                 # consumer once, batch; relay; parse
    .venv/bin/python bench/events.py --only parse -n 50000
    .venv/bin/python bench/events.py --only consumer --mode batch -n 20000
    .venv/bin/python bench/events.py --only relay -n 20000
    .venv/bin/python bench/events.py --only stage --mode 1,8 -n 5000

consumer: N events wait in a fresh nats-server's stream; one consumer process drains them through the
    inbox into a real SQLite file with a trivial handler (one row insert). The consumer parses each
    delivery's envelope and payload (`identity.tenant.created`) into `Event[TenantCreated]`, as a
    service's subscription does. `once` applies each event in a
    transaction of its own (`handle_once`, as services consumed before batching); `batch` applies each
    fetched batch in one transaction (`handle_batch_once`, as they consume now; savepoints per event
    only when a batch is re-run after a failure). Timed from the consumer's start until every event is
    applied and acked.
relay: N events staged in a SQLite file's outbox; one relay process publishes them all, acknowledged,
    and marks them published (`OutboxRelay.flush` until nothing is pending).
stage: N events staged one by one with `stage` into a SQLite file's outbox, `--stage-per` of them per
    committed transaction (1: a request that announces one event; 8: a consumer's batch), the commit
    included (`--mode` takes the sizes, e.g. `--only stage --mode 1,8`).
parse: the CPU of turning one delivery's bytes into a handler's payload, per event, for a
    `listening.mention.received` and an `identity.tenant.created`: the envelope parsed, then the payload
    validated from its dict in the handler (how handlers did it before payloads were typed), against
    `Event[P]` parsed in one pass (how a subscription does it now). In-process, no server.
CPU is the worker process's own (process_time), and nats-server's (/proc) over the same run. Each run
is pinned to one core with taskset when available. Other load on the machine lowers the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENT_TYPE = "identity.tenant.created"


def _events(n: int) -> list[Any]:
    from shared.events import contracts as c
    from shared.events.envelope import new_event

    tenant = uuid.uuid4().hex
    return [
        new_event(c.TenantCreated(tenant_id=tenant, name="Acme"), source="bench", tenant_id=tenant)
        for _ in range(n)
    ]


async def _connect(nats_url: str) -> Any:
    from shared.events.bus import Bus

    bus = Bus(nats_url, name="bench")
    await bus.connect()
    return bus


async def _database(db_url: str) -> tuple[Any, Any]:
    from sqlmodel import Field, SQLModel

    from shared.db import create_engine, session_factory
    from tests.helpers import create_tables

    class BenchApplied(SQLModel, table=True):
        __tablename__ = "bench_applied"
        id: int | None = Field(default=None, primary_key=True)
        event_id: str

    engine = create_engine(db_url)
    await create_tables(engine)
    return engine, (session_factory(engine), BenchApplied)


async def _consume(nats_url: str, db_url: str, mode: str, n: int, batch: int) -> dict[str, Any]:
    from shared.events.contracts import TenantCreated
    from shared.events.inbox import handle_once

    engine, (sessions, row) = await _database(db_url)
    bus = await _connect(nats_url)
    durable = f"bench-{mode}"
    applied = 0
    done = asyncio.Event()

    async def apply(session: Any, event: Any) -> None:
        nonlocal applied
        session.add(row(event_id=event.id))
        applied += 1
        if applied >= n:
            done.set()

    if mode == "once":

        async def many(events: Any, scope: Any) -> Any:
            outcomes = []
            for event in events:
                with scope(event):
                    await handle_once(sessions, consumer=durable, event=event, handler=apply)
                outcomes.append(None)
            return outcomes

    else:
        from shared.events.inbox import handle_batch_once

        async def many(events: Any, scope: Any) -> Any:
            return await handle_batch_once(
                sessions, consumer=durable, events=events, handler=apply, scope=scope
            )

    consumer = bus.consumer(durable=durable, event=TenantCreated, batch_handler=many, batch=batch)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(done.wait(), timeout=600)
    for _ in range(60_000):  # the last batch's commit and acks
        info = await bus.js.consumer_info("IDENTITY", durable)
        if not info.num_ack_pending and not info.num_pending:
            break
        await asyncio.sleep(0.01)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    task.cancel()
    await bus.close()
    await engine.dispose()
    return {"events": applied, "cpu_s": cpu, "wall_s": wall}


async def _relay(nats_url: str, db_url: str, n: int, batch: int) -> dict[str, Any]:
    from shared.db import transaction
    from shared.events.outbox import OutboxRelay, stage

    engine, (sessions, _) = await _database(db_url)
    bus = await _connect(nats_url)
    events = _events(n)
    for start in range(0, n, 1000):
        async with transaction(sessions) as session:
            for event in events[start : start + 1000]:
                stage(session, event)
    relay = OutboxRelay(sessions, bus, batch=batch)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sent = 0
    while published := await relay.flush():
        sent += published
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert await relay.pending() == 0
    stored = (await bus.js.stream_info("IDENTITY")).state.messages
    await bus.close()
    await engine.dispose()
    return {"events": sent, "stored": stored, "cpu_s": cpu, "wall_s": wall}


async def _stage(db_url: str, n: int, per: int) -> dict[str, Any]:
    from shared.db import transaction
    from shared.events.outbox import stage

    engine, (sessions, _) = await _database(db_url)
    events = _events(n)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, n, per):
        async with transaction(sessions) as session:
            for event in events[start : start + per]:
                stage(session, event)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await engine.dispose()
    return {"events": n, "cpu_s": cpu, "wall_s": wall}


def _parse(n: int) -> None:
    from datetime import UTC, datetime

    from shared.events import contracts as c
    from shared.events.envelope import CloudEvent, event_model, new_event

    analysis = c.Analysis(
        language="en", sentiment=c.Sentiment(label="negative", score=-0.7), intent="complaint"
    )
    mention = c.MentionReceived(
        mention_id=uuid.uuid4().hex,
        platform="x",
        external_id="1790000000000000000",
        text="My order arrived broken and support is not answering. Terrible!",
        created_at=datetime.now(UTC),
        url="https://x.com/sam/status/1790000000000000000",
        author=c.Author(handle="@sam", platform_user_id="2244994945", followers=120, influence=31.5),
        analysis=analysis,
        matched_query_ids=["q1", "q2"],
        matched_queries=[
            c.MatchedQuery(query_id="q1", kind="brand"),
            c.MatchedQuery(query_id="q2", kind="topic"),
        ],
        channel_id=uuid.uuid4().hex,
    )
    tenant = c.TenantCreated(tenant_id="t1", name="Acme")
    for payload in (mention, tenant):
        model = type(payload)
        raw = new_event(payload, source="bench", tenant_id="t1").to_bytes()
        typed = event_model(model)
        cpu0 = time.process_time()
        for _ in range(n):
            model.model_validate(CloudEvent.from_bytes(raw).data)
        two_step = time.process_time() - cpu0
        cpu0 = time.process_time()
        for _ in range(n):
            typed.model_validate_json(raw)
        one_pass = time.process_time() - cpu0
        print(
            f"parse {model.__name__:<16} {n:>6} events  envelope then payload "
            f"{1e6 * two_step / n:.1f} us CPU/event  typed in one pass {1e6 * one_pass / n:.1f} us CPU/event",
            flush=True,
        )


def _worker(args: argparse.Namespace) -> None:
    import shared

    if args.worker == "consumer":
        result = asyncio.run(_consume(args.nats, args.db, args.mode, args.n, args.batch))
    elif args.worker == "stage":
        result = asyncio.run(_stage(args.db, args.n, int(args.mode)))
    else:
        result = asyncio.run(_relay(args.nats, args.db, args.n, args.relay_batch))
    result["code"] = str(Path(shared.__file__).parent)
    print(json.dumps(result))


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


async def _delete_streams(bus: Any) -> None:
    from nats.js.errors import NotFoundError

    from shared.events.catalog import STREAMS

    for name in STREAMS:
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_stream(name)


async def _fill(nats_url: str, n: int) -> None:
    bus = await _connect(nats_url)
    await _delete_streams(bus)
    await bus.ensure_streams()
    futures = []
    for event in _events(n):
        futures.append(
            await bus.js.publish_async(EVENT_TYPE, event.to_bytes(), headers={"Nats-Msg-Id": event.id})
        )
    await asyncio.gather(*futures)
    await bus.close()


async def _empty(nats_url: str) -> None:
    bus = await _connect(nats_url)
    await _delete_streams(bus)
    await bus.ensure_streams()
    await bus.close()


def _run(kind: str, mode: str, args: argparse.Namespace, nats_url: str, nats_pid: int, tmp: Path) -> None:
    db = tmp / f"{kind}-{mode}-{uuid.uuid4().hex[:6]}.sqlite"
    if kind == "consumer":
        asyncio.run(_fill(nats_url, args.n))
    else:
        asyncio.run(_empty(nats_url))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--mode", mode]
    cmd += ["--nats", nats_url, "--db", f"sqlite+aiosqlite:///{db}", "-n", str(args.n)]
    cmd += ["--batch", str(args.batch), "--relay-batch", str(args.relay_batch)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    ticks0 = _cpu_ticks(nats_pid)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    nats_cpu = (_cpu_ticks(nats_pid) - ticks0) / os.sysconf("SC_CLK_TCK")
    r = json.loads(out.strip().splitlines()[-1])
    label = {"consumer": f"consumer {mode}", "stage": f"stage ({mode} per commit)"}.get(
        kind, f"relay (batch {args.relay_batch})"
    )
    print(
        f"{label:<22} {r['events']:>6} events  {r['events'] / r['wall_s']:>8.0f} events/s  "
        f"{1000 * r['cpu_s'] / r['events']:.3f} ms CPU/event (worker)  "
        f"{1000 * nats_cpu / r['events']:.3f} ms CPU/event (nats-server, whole run)"
        + (f"  stream holds {r['stored']}" if "stored" in r else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="consumer,relay,parse", help="consumer, relay, parse, stage")
    parser.add_argument(
        "--mode",
        default=None,
        help="consumer modes: once, batch (default both); stage: events per commit (1,8)",
    )
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=64, help="consumer fetch batch")
    parser.add_argument("--relay-batch", type=int, default=500)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    kinds = args.only.split(",")
    if "parse" in kinds:
        _parse(args.n)
        if kinds == ["parse"]:
            return

    from rapport.stack import free_port, nats_server_binary, port_open

    with tempfile.TemporaryDirectory(prefix="rapport-bench-events-") as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        nats = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp / "nats")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not port_open(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start")
                time.sleep(0.05)
            nats_url = f"nats://127.0.0.1:{port}"
            print(f"code: {ROOT / 'shared'}  n={args.n}  consumer fetch batch={args.batch}", flush=True)
            if "consumer" in kinds:
                for mode in (args.mode or "once,batch").split(","):
                    _run("consumer", mode, args, nats_url, nats.pid, tmp)
            if "relay" in kinds:
                _run("relay", "-", args, nats_url, nats.pid, tmp)
            if "stage" in kinds:
                for per in (args.mode or "1,8").split(","):
                    _run("stage", per, args, nats_url, nats.pid, tmp)
        finally:
            nats.terminate()
            nats.wait(timeout=15)


if __name__ == "__main__":
    main()
