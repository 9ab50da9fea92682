"""Reads under load: every list (a page of 20) and get endpoint of every service, straight to the service.

    .venv/bin/python bench/reads.py                    # SQLite and PostgreSQL, 3 rounds of 4 s each, ~15 min
    .venv/bin/python bench/reads.py --quick            # SQLite only, 1 round of 1.5 s each, ~4 min (seeding)
    .venv/bin/python bench/reads.py --db postgres --only profiles,mentions --rounds 5

For each database the bench starts its own stack (rapport.stack: embedded nats-server and Redis, the five
services and the gateway; PostgreSQL databases `rapport_bench_<service>`, dropped and created afresh on
`--pg-url`'s server), signs a tenant up, posts 1,020 mentions through listening (one author posts 40 of
them, so a profile has a timeline; the pipeline builds profiles, interactions and conversations), waits
for the pipeline, then tops every listed table up to `--rows` rows of the tenant by copying one of its
rows directly in the database (fresh id, unique columns made unique, `created_at` spread out): users,
agents, queries, channels, labels, profiles, conversations, mentions; alerts are written directly.

Load: `--connections` keep-alive HTTP/1.1 connections from a small asyncio client in this process, each
one request at a time, for `--duration` seconds after `--warmup` seconds, with a valid token, on
127.0.0.1. Within a round each service's `/healthz` is measured right before its endpoints, and an
endpoint's ratio is its rate over that `/healthz` rate (same process, same minute). Reported per
endpoint and database: the median round's req/s, the ratio's range over the rounds, p99, and the
service process's CPU per request with /healthz's over it (the "CPU ratio": what the ratio of rates
tends to on an otherwise idle machine, and steadier on a busy one). The budget is a ratio of at least
0.45 for every endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rapport.stack import Stack  # noqa: E402

SERVICES = ("identity", "listening", "profiles", "engagement")
BUDGET = 0.45
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throw-away tenant of a bench)
TEXTS = [
    "My Kettlr order arrived broken and support is not answering. Terrible!",
    "Does the Kettlr kettle work with 110 V?",
    "Love my new Kettlr, boils in a minute.",
    "Kettlr: where can I find the manual?",
    "Mein Kettlr Wasserkocher ist kaputt, sehr enttäuschend.",
    "Kettlr siparişim hâlâ gelmedi, berbat.",
    "Le Kettlr est génial, merci !",
    "¿El Kettlr tiene garantía en España?",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The load generator: raw HTTP/1.1 over keep-alive connections (a fraction of aiohttp's cost per request,
# so the client does not set the ceiling on this 2-core machine).


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, run: _Run) -> None:
        self.request = request
        self.run = run
        self.buffer = bytearray()
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"content-length:")
            if at < 0:
                self.run.fail("response without content-length")
                self._close()
                return
            length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            status = int(head[9:12])
            del self.buffer[:total]
            now = time.perf_counter()
            self.run.record(status, now - self.started)
            if now >= self.run.deadline:
                self._close()
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.run.done.done():
            self.run.closed += 1
            if self.run.closed >= self.run.connections:
                self.run.done.set_result(None)

    def _close(self) -> None:
        assert self.transport is not None
        self.transport.close()


@dataclass
class _Run:
    deadline: float
    connections: int
    done: asyncio.Future[None]
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    closed: int = 0
    error: str | None = None

    def record(self, status: int, latency: float) -> None:
        self.latencies.append(latency)
        if not 200 <= status < 300:
            self.non_2xx += 1

    def fail(self, error: str) -> None:
        self.error = error


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


async def _load(port: int, path: str, token: str, *, duration: float, connections: int) -> Load:
    loop = asyncio.get_running_loop()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    run = _Run(deadline=time.perf_counter() + duration, connections=connections, done=loop.create_future())
    started = time.perf_counter()
    for _ in range(connections):
        await loop.create_connection(lambda: _Connection(request, run), "127.0.0.1", port)
    await asyncio.wait_for(run.done, duration + 30)
    elapsed = time.perf_counter() - started
    if run.error:
        raise RuntimeError(f"GET {path}: {run.error}")
    ordered = sorted(run.latencies) or [float("nan")]
    return Load(
        requests_per_s=len(run.latencies) / elapsed,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        non_2xx=run.non_2xx,
    )


# Seeding.


def _pg_databases(pg_url: str, *, create: bool) -> dict[str, str]:
    """Drop and (re)create `rapport_bench_<service>` on the server; their asyncpg URLs."""
    urls = {}
    for service in (*SERVICES, "metrics"):
        name = f"rapport_bench_{service}"
        subprocess.run(
            ["psql", pg_url, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            check=True,
            capture_output=True,
        )
        if create:
            subprocess.run(
                ["psql", pg_url, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True
            )
        urls[service] = f"{pg_url.replace('postgresql://', 'postgresql+asyncpg://').rstrip('/')}/{name}"
    return urls


def _db_url(stack: Stack, database_urls: dict[str, str], service: str) -> str:
    return database_urls.get(service) or f"sqlite+aiosqlite:///{stack.var_dir / (service + '.db')}"


async def _count(url: str, table: str, tenant_id: str) -> int:
    from sqlalchemy import text

    from shared.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            query = text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t")  # noqa: S608 (our table names)
            return int((await conn.execute(query, {"t": tenant_id})).scalar_one())
    finally:
        await engine.dispose()


async def _top_up(url: str, model: Any, tenant_id: str, rows: int, template: dict[str, Any]) -> int:
    """Copy one of the tenant's rows (or write `template`) until the tenant has `rows` of this table."""
    from sqlalchemy import DateTime, func, insert, select

    from shared.db import create_engine

    table = model.__table__
    # One column of each unique constraint is made unique per copy: a timestamp if it has one (a string
    # may be an enumeration), else a string.
    groups = [
        [c for c in constraint.columns if c.name not in ("tenant_id", "id")]
        for constraint in [*table.constraints, *table.indexes]
        if constraint.__class__.__name__ == "UniqueConstraint" or getattr(constraint, "unique", False)
    ]
    unique = {
        min(group, key=lambda c: not isinstance(getattr(c.type, "impl", c.type), DateTime)).name
        for group in groups
        if group
    }
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            have = (
                await conn.execute(
                    select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
                )
            ).scalar_one()
            if have >= rows:
                return int(have)
            if template:
                base = {c.name: template.get(c.name) for c in table.columns}
            else:
                found = (
                    await conn.execute(select(table).where(table.c.tenant_id == tenant_id).limit(1))
                ).first()
                if found is None:
                    raise RuntimeError(f"no {table.name} row of the tenant to copy")
                base = dict(found._mapping)
            now = datetime.now(UTC)
            copies = []
            for i in range(rows - have):
                row = dict(base)
                row["id"] = str(uuid.uuid4())
                row["created_at"] = now - timedelta(seconds=i + 1, microseconds=i)
                for name in unique:
                    value = row[name]
                    if isinstance(value, str):
                        suffix = f"~{i}"
                        row[name] = value[: (table.c[name].type.length or 10_000) - len(suffix)] + suffix
                    elif isinstance(value, datetime):
                        row[name] = value - timedelta(hours=i + 1)
                copies.append(row)
            for start in range(0, len(copies), 500):
                await conn.execute(insert(table), copies[start : start + 500])
            return rows
    finally:
        await engine.dispose()


@dataclass
class Seeded:
    token: str
    tenant_id: str
    email: str
    ids: dict[str, str]


def _login(url: str, email: str) -> str:
    response = httpx.post(f"{url}/v1/auth/token", json={"email": email, "password": PASSWORD}, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def seed(stack: Stack, database_urls: dict[str, str], rows: int) -> Seeded:
    """A tenant with `rows` rows in every listed table."""
    import services.engagement.models as engagement
    import services.identity.models as identity
    import services.listening.models as listening
    import services.profiles.models as profiles

    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    ident = stack.url("identity")
    signup = httpx.post(
        f"{ident}/v1/tenants",
        json={"name": "Bench reads", "admin_email": email, "admin_password": PASSWORD},
        timeout=30,
    )
    signup.raise_for_status()
    tenant_id = str(signup.json()["user"]["tenant_id"])
    token = _login(ident, email)
    auth = {"Authorization": f"Bearer {token}"}
    lst = stack.url("listening")
    with httpx.Client(headers=auth, timeout=60) as c:
        c.post(
            f"{ident}/v1/users",
            json={
                "email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
                "password": PASSWORD,
                "role": "agent",
            },
        ).raise_for_status()
        query = c.post(
            f"{lst}/v1/listening/queries", json={"name": "Kettlr", "kind": "brand", "expression": "kettlr"}
        )
        query.raise_for_status()
        c.post(
            f"{lst}/v1/channels",
            json={
                "platform": "meta",
                "name": "Kettlr page",
                "credentials": {"app_secret": "s" * 32, "verify_token": "v" * 16},
            },
        ).raise_for_status()
        log(f"  posting {rows + 20} mentions")
        now = datetime.now(UTC)
        posts = [
            {
                "platform": "x",
                "external_id": f"bench-{i}",
                "text": TEXTS[i % len(TEXTS)],
                "created_at": (now - timedelta(seconds=i)).isoformat(),
                "url": f"https://example.com/status/{i}",
                "author": {"handle": "@regular" if i < 40 else f"@author{i}", "followers": 100 + i},
            }
            for i in range(rows + 20)
        ]
        for start in range(0, len(posts), 500):
            c.post(
                f"{lst}/v1/mentions/batch", json={"mentions": posts[start : start + 500]}
            ).raise_for_status()

    log("  waiting for profiles and engagement to take them in")
    deadline = time.monotonic() + 600
    last: tuple[int, int] = (-1, -1)
    # Quality re-scores of the fast-tier analyses follow the burst: measured reads wait until they are done.
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        counts = (
            asyncio.run(_count(_db_url(stack, database_urls, "profiles"), "interaction", tenant_id)),
            asyncio.run(_count(_db_url(stack, database_urls, "engagement"), "conversation", tenant_id)),
        )
        stats = httpx.get(f"{lst}/v1/mentions/stats", headers=auth, timeout=30).json()
        analysing = stats["pending"] + stats["needs_rescore"]
        if counts != last:
            last, stable_since = counts, time.monotonic()
        elif counts[0] >= rows + 20 and not analysing and time.monotonic() - stable_since > 3:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"the pipeline did not catch up: interactions, conversations = {last}")

    # A label (copied below) needs an analysed mention.
    first = httpx.get(f"{lst}/v1/mentions", params={"limit": 1}, headers=auth, timeout=30).json()["items"][0]
    httpx.post(
        f"{lst}/v1/mentions/{first['id']}/labels", json={"sentiment": "negative"}, headers=auth, timeout=30
    ).raise_for_status()
    log(f"  topping every listed table up to {rows} rows of the tenant")
    query_id = query.json()["id"]
    tops: list[tuple[str, Any, dict[str, Any]]] = [
        ("identity", identity.User, {}),
        ("engagement", engagement.Agent, {}),
        ("engagement", engagement.Conversation, {}),
        ("profiles", profiles.Profile, {}),
        ("listening", listening.Mention, {}),
        ("listening", listening.ListeningQuery, {}),
        ("listening", listening.Channel, {}),
        ("listening", listening.MentionLabel, {}),
        (
            "listening",
            listening.Alert,
            {
                "tenant_id": tenant_id,
                "query_id": query_id,
                "kind": "volume",
                "observed": 40.0,
                "baseline": 4.0,
                "score": 9.0,
                "bucket_start": now.replace(minute=0, second=0, microsecond=0),
            },
        ),
    ]
    for service, model, template in tops:
        have = asyncio.run(_top_up(_db_url(stack, database_urls, service), model, tenant_id, rows, template))
        log(f"    {service}.{model.__table__.name}: {have} rows")

    ids: dict[str, str] = {}
    with httpx.Client(headers=auth, timeout=60) as c:
        for key, url in {
            "user": f"{ident}/v1/users",
            "mention": f"{lst}/v1/mentions",
            "query": f"{lst}/v1/listening/queries",
            "channel": f"{lst}/v1/channels",
            "profile": f"{stack.url('profiles')}/v1/profiles",
            "conversation": f"{stack.url('engagement')}/v1/conversations",
        }.items():
            page = c.get(url, params={"limit": 20}).json()
            ids[key] = page["items"][-1]["id"]
        regular = [
            p for p in c.get(f"{stack.url('profiles')}/v1/profiles", params={"limit": 200}).json()["items"]
        ]
        ids["timeline_profile"] = ids["profile"]
        for profile in regular:
            timeline = c.get(
                f"{stack.url('profiles')}/v1/profiles/{profile['id']}/timeline", params={"limit": 20}
            )
            if len(timeline.json()["items"]) == 20:
                ids["timeline_profile"] = profile["id"]
                break
    return Seeded(token=token, tenant_id=tenant_id, email=email, ids=ids)


def endpoints(ids: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Per service: (name, path) of every list and get endpoint."""
    return {
        "identity": [
            ("me", "/v1/me"),
            ("users", "/v1/users?limit=20"),
            ("user", f"/v1/users/{ids['user']}"),
        ],
        "listening": [
            ("mentions", "/v1/mentions?limit=20"),
            ("mention", f"/v1/mentions/{ids['mention']}"),
            ("labels", "/v1/mentions/labels?limit=20"),
            ("queries", "/v1/listening/queries?limit=20"),
            ("query", f"/v1/listening/queries/{ids['query']}"),
            ("alerts", "/v1/listening/alerts?limit=20"),
            ("channels", "/v1/channels?limit=20"),
            ("channel", f"/v1/channels/{ids['channel']}"),
        ],
        "profiles": [
            ("profiles", "/v1/profiles?limit=20"),
            ("profile", f"/v1/profiles/{ids['profile']}"),
            ("timeline", f"/v1/profiles/{ids['timeline_profile']}/timeline?limit=20"),
        ],
        "engagement": [
            ("conversations", "/v1/conversations?limit=20"),
            ("conversation", f"/v1/conversations/{ids['conversation']}"),
            ("agents", "/v1/agents?limit=20"),
        ],
    }


@dataclass
class Row:
    database: str
    service: str
    endpoint: str
    path: str
    rps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    # The service process's CPU per request (µs), and /healthz's over it: what the ratio of rates tends to
    # on an otherwise idle machine, and steadier than it on a busy one.
    cpu_us: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, path: str, token: str, args: argparse.Namespace) -> tuple[Load, float]:
    """`load`, and the process's CPU µs per request over the measured part."""
    asyncio.run(_load(port, path, token, duration=args.warmup, connections=args.connections))
    before = _cpu_s(pid)
    result = asyncio.run(_load(port, path, token, duration=args.duration, connections=args.connections))
    used = _cpu_s(pid) - before
    return result, 1e6 * used / max(1.0, result.requests_per_s * args.duration)


def bench_database(database: str, args: argparse.Namespace) -> list[Row]:
    log(f"[{database}] starting the stack")
    database_urls = _pg_databases(args.pg_url, create=True) if database == "postgres" else {}
    var_dir = Path(tempfile.mkdtemp(prefix=f"rapport-reads-{database}-"))
    stack = Stack(
        var_dir=var_dir,
        database_urls=database_urls,
        # Access tokens outlive the bench.
        env={
            "RAPPORT_ACCESS_TOKEN_TTL_S": "7200",
            "RAPPORT_LOG_LEVEL": "WARNING",
            # No background work beside the reads: no connector polling, no spike checks during the bench.
            "RAPPORT_CONNECTOR_PULLERS": "false",
            "RAPPORT_SPIKE_CHECK_INTERVAL_S": "86400",
        },
        status=lambda name, msg: log(f"  {name}: {msg}"),
    )
    rows: dict[tuple[str, str], Row] = {}
    try:
        stack.start_all()
        log(f"[{database}] seeding")
        seeded = seed(stack, database_urls, args.rows)
        plan = endpoints(seeded.ids)
        for service, targets in plan.items():
            for _name, path in targets:
                check = httpx.get(
                    f"{stack.url(service)}{path}", headers={"Authorization": f"Bearer {seeded.token}"}
                )
                if check.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {check.status_code}: {check.text[:300]}")
        for round_ in range(args.rounds):
            log(f"[{database}] round {round_ + 1}/{args.rounds}")
            for service, targets in plan.items():
                chosen = [(n, p) for n, p in targets if not args.only or n in args.only]
                if not chosen:
                    continue
                port = stack.procs[service].port
                popen = stack.procs[service].popen
                assert popen is not None
                token = _login(stack.url("identity"), seeded.email)
                health, health_cpu = measured(popen.pid, port, "/healthz", token, args)
                log(
                    f"  {service:<10} {'healthz':<14} {health.requests_per_s:7.0f} req/s  "
                    f"p99 {health.p99_ms:6.1f} ms  {health_cpu:6.0f} µs CPU/req"
                )
                key = (service, "healthz")
                rows.setdefault(key, Row(database, service, "healthz", "/healthz"))
                rows[key].rps.append(health.requests_per_s)
                rows[key].ratios.append(1.0)
                rows[key].p99.append(health.p99_ms)
                rows[key].cpu_us.append(health_cpu)
                rows[key].cpu_ratios.append(1.0)
                for name, path in chosen:
                    result, cpu = measured(popen.pid, port, path, token, args)
                    if result.non_2xx:
                        raise RuntimeError(f"GET {path} answered {result.non_2xx} non-2xx responses")
                    ratio = result.requests_per_s / health.requests_per_s
                    log(
                        f"  {service:<10} {name:<14} {result.requests_per_s:7.0f} req/s  ratio {ratio:4.2f}  "
                        f"p99 {result.p99_ms:6.1f} ms  {cpu:6.0f} µs CPU/req  "
                        f"CPU ratio {health_cpu / cpu:4.2f}"
                    )
                    row = rows.setdefault((service, name), Row(database, service, name, path))
                    row.rps.append(result.requests_per_s)
                    row.ratios.append(ratio)
                    row.p99.append(result.p99_ms)
                    row.cpu_us.append(cpu)
                    row.cpu_ratios.append(health_cpu / cpu)
    finally:
        log(f"[{database}] stopping the stack")
        stack.stop_all()
        if database == "postgres" and not args.keep:
            _pg_databases(args.pg_url, create=False)
    return list(rows.values())


def report(results: list[Row]) -> str:
    lines = [
        "| database | service | endpoint | req/s (median) | ratio to /healthz (range) | p99 ms (median) "
        "| CPU µs per request (median) | CPU ratio (range) | budget |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        ratio = (
            f"{min(row.ratios):.2f}-{max(row.ratios):.2f}" if len(row.ratios) > 1 else f"{row.ratios[0]:.2f}"
        )
        verdict = (
            "" if row.endpoint == "healthz" else ("ok" if statistics.median(row.ratios) >= BUDGET else "MISS")
        )
        cpu_ratio = f"{min(row.cpu_ratios):.2f}-{max(row.cpu_ratios):.2f}"
        lines.append(
            f"| {row.database} | {row.service} | `{row.endpoint}` | {statistics.median(row.rps):,.0f} "
            f"| {ratio} | {statistics.median(row.p99):.1f} | {statistics.median(row.cpu_us):,.0f} "
            f"| {cpu_ratio} | {verdict} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", default="sqlite,postgres", help="databases, comma-separated (sqlite,postgres)"
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--rows", type=int, default=1000, help="rows per table of the tenant (default 1000)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds measured per endpoint (default 4)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of warm-up per endpoint (default 1)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every endpoint (default 3)")
    parser.add_argument("--only", default="", help="endpoint names, comma-separated (e.g. profiles,mention)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL bench databases afterwards")
    parser.add_argument("--quick", action="store_true", help="SQLite only, one round of 1.5 s per endpoint")
    args = parser.parse_args(argv)
    if args.quick:
        args.db, args.duration, args.warmup, args.rounds = "sqlite", 1.5, 0.5, 1
    args.only = {name for name in args.only.split(",") if name}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated bench still stops the stack it started (the `finally` blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: list[Row] = []
    for database in [d for d in args.db.split(",") if d]:
        if database not in ("sqlite", "postgres"):
            raise SystemExit(f"unknown database {database!r}")
        results += bench_database(database, args)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ for row in results], indent=2))
    missed = [r for r in results if r.endpoint != "healthz" and statistics.median(r.ratios) < BUDGET]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
