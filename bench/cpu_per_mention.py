"""CPU per mention of every process of the stack, from the post to the last consumer's ack.

    .venv/bin/python bench/cpu_per_mention.py                # starts its own stack, N=1000, ~2-4 min
    .venv/bin/python bench/cpu_per_mention.py -n 200         # quicker
    .venv/bin/python bench/cpu_per_mention.py --gateway-url http://127.0.0.1:8000 \\
        --nats-url nats://127.0.0.1:4222 --pids nats=11,redis=12,identity=13,listening=14,... \\
        --listening-log var/logs/listening.log           # a running stack (rate limit raised for it!)

The bench signs a tenant up, creates a brand query, then posts N mentions one per request through the
gateway from 8 clients: the project's labelled posts (complaints, questions, praise, purchase intent and
other, in eight languages), a third of them naming the brand, by a pool of authors of whom a few post
again and again. It waits until listening has analysed everything (nothing pending, nothing awaiting a
quality re-score) and every durable consumer of every JetStream stream has nothing pending and nothing
unacknowledged, twice in a row a second apart. CPU is user + system time from /proc/<pid>/stat, before
the first post and after the wait, for every process (nats-server and redis-server included) and this
bench (the HTTP client). listening's analysis time is the analysis worker's own count of its analysing
thread's CPU (`analysis_cpu_s` in its `analysis.batch` log lines), shown apart from the rest of listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "correct horse battery staple"  # noqa: S105 (a throw-away tenant of a bench)
BRAND = "Kettlr"
CLIENTS = 8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def analysis_cpu(log_path: Path | None) -> float:
    """The analysis worker's cumulative analysis CPU seconds, from its last batch log line."""
    if log_path is None or not log_path.exists():
        return 0.0
    latest = 0.0
    for line in log_path.read_text(errors="replace").splitlines():
        if '"analysis_cpu_s"' in line:
            try:
                latest = float(json.loads(line)["analysis_cpu_s"])
            except (ValueError, KeyError):
                continue
    return latest


# Names of the bench's authors, from the languages of its posts (a one-off author is a random pair: two
# people share a name now and then, as on a real platform, and their profiles may draw a suggestion).
FIRST = (
    "Emma Liam Olivia Noah Ava Oliver Mia Elias Sofia Lucas Amira Omar Layla Yusuf Nour Karim Aisha Hamza"
    " Selma Amar Lejla Emir Ajla Haris Amina Tarik Elsa Hugo Astrid Nils Maja Axel Ebba Viktor Elif Emre"
    " Zeynep Burak Ayse Mehmet Defne Can Ines Mateo Lucia Pablo Chloe Louis Lea Jonas Hannah Felix"
).split()
LAST = (
    "Smith Johnson Brown Taylor Walker Clarke Hughes Khan Haddad Mansour Nasser Saleh Farouk Aziz Hadzic"
    " Kovacevic Begic Delic Suljic Mehic Karlsson Lindqvist Berg Nyberg Holm Sandberg Yilmaz Kaya Demir"
    " Celik Sahin Aydin Ozturk Garcia Martinez Lopez Moreau Lefevre Dubois Schmidt Weber Fischer Rossi"
    " Ricci Novak Horvat Kowalski Nowak Silva Costa"
).split()


def person(rng: random.Random) -> tuple[str, str]:
    """A (handle, display name) pair in one of the shapes people choose."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    shape = rng.randrange(4)
    if shape == 0:
        handle = f"{first}{last}{rng.randint(1, 999)}"
    elif shape == 1:
        handle = f"{first.lower()}_{last[0].lower()}{rng.randint(10, 99)}"
    elif shape == 2:
        handle = f"{last.lower()}.{first.lower()}"
    else:
        handle = f"{first[0]}{last}{rng.randint(1970, 2009)}"
    return f"@{handle}", f"{first} {last}"


def posts(n: int, seed: int = 8) -> list[dict[str, Any]]:
    """N posts: the labelled set's texts in a shuffled cycle, a third naming the brand, repeat authors."""
    from services.listening.analysis.evaluate import load_set

    rng = random.Random(seed)
    texts = [str(r["text"]) for r in load_set()]
    # 10 regulars write a third of the posts; the rest come from a long tail of one-off authors.
    regulars = [person(rng) for _ in range(10)]
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(n):
        text = texts[i % len(texts)] if i % len(texts) else texts[rng.randrange(len(texts))]
        if i % 3 == 0:
            text = f"{text} #{BRAND}"
        handle, name = rng.choice(regulars) if rng.random() < 1 / 3 else person(rng)
        out.append(
            {
                "platform": rng.choice(["x", "x", "instagram", "facebook"]),
                "external_id": f"{run}-{i}",
                "text": text,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "url": f"https://example.com/status/{run}-{i}",
                "author": {
                    "handle": handle,
                    "display_name": name,
                    "followers": rng.randint(0, 50_000),
                },
            }
        )
    rng.shuffle(out)
    return out


def setup_tenant(gateway: str) -> dict[str, str]:
    """A fresh tenant with a brand query; its owner's auth header."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=gateway, timeout=30) as c:
        c.post(
            "/v1/tenants", json={"name": "Bench CPU", "admin_email": email, "admin_password": PASSWORD}
        ).raise_for_status()
        token = c.post("/v1/auth/token", json={"email": email, "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        c.post(
            "/v1/listening/queries",
            json={"name": BRAND, "kind": "brand", "expression": BRAND.lower()},
            headers=auth,
        ).raise_for_status()
    return auth


async def post_all(gateway: str, auth: dict[str, str], bodies: list[dict[str, Any]]) -> int:
    """Post every body, one per request, from CLIENTS clients; how many were refused."""
    import aiohttp

    queue = list(reversed(bodies))
    refused = 0
    done = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal refused, done
        while queue:
            body = queue.pop()
            async with session.post(f"{gateway}/v1/mentions", json=body, headers=auth) as response:
                await response.read()
                if response.status != 202:
                    refused += 1
            done += 1
            if done % 200 == 0:
                log(f"  posted {done}/{len(bodies)}")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
    return refused


async def consumers_busy(nats_url: str) -> list[str]:
    """Durable consumers with messages pending or unacknowledged: `stream/consumer pending/unacked`."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        busy = []
        for stream in await js.streams_info():
            name = str(stream.config.name)
            for info in await js.consumers_info(name):
                if info.num_pending or info.num_ack_pending:
                    busy.append(f"{name}/{info.name} {info.num_pending}/{info.num_ack_pending}")
        return busy
    finally:
        await nc.close()


def wait_drained(gateway: str, auth: dict[str, str], nats_url: str, timeout: float) -> float:
    """Seconds until analysis and every consumer are done (checked twice in a row, a second apart)."""
    started = time.monotonic()
    quiet = 0
    last: Any = None
    with httpx.Client(base_url=gateway, timeout=30) as c:
        while time.monotonic() - started < timeout:
            stats = c.get("/v1/mentions/stats", headers=auth).json()
            busy = asyncio.run(consumers_busy(nats_url))
            analysing = stats["pending"] + stats["needs_rescore"]
            now = (analysing, tuple(busy))
            if now != last:
                log(
                    f"  {time.monotonic() - started:5.1f}s  to analyse: {analysing}  "
                    f"consumers busy: {busy or 'none'}"
                )
                last = now
            quiet = quiet + 1 if not analysing and not busy else 0
            if quiet >= 2:
                return time.monotonic() - started
            time.sleep(1)
    raise SystemExit(f"not drained within {timeout:.0f}s: {last}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000, help="mentions to post (default 1000)")
    parser.add_argument("--gateway-url", help="a running stack's gateway (else the bench starts a stack)")
    parser.add_argument("--nats-url", help="a running stack's NATS server")
    parser.add_argument("--pids", default="", help="a running stack's processes: name=pid,name=pid,...")
    parser.add_argument("--listening-log", type=Path, help="a running stack's listening log (JSON lines)")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for the drain (default 900)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if bool(args.gateway_url) != bool(args.nats_url):
        parser.error("--gateway-url and --nats-url go together")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated bench still stops the stack it started (the `finally` block runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stack = None
    if args.gateway_url:
        gateway, nats_url, listening_log = args.gateway_url.rstrip("/"), args.nats_url, args.listening_log
        pids = {name: int(pid) for name, pid in (item.split("=") for item in args.pids.split(",") if item)}
    else:
        from rapport.stack import Stack

        stack = Stack(
            var_dir=Path(tempfile.mkdtemp(prefix="rapport-cpu-")),
            env={"RAPPORT_RATE_LIMIT_PER_WINDOW": "10000000"},
            status=lambda name, msg: log(f"  {name:<11} {msg}"),
        )
        stack.start_all()
        gateway, nats_url = stack.gateway_url, stack.nats_url
        listening_log = stack.log_dir / "listening.log"
        pids = {p.name: p.popen.pid for p in [*stack.infra, *stack.procs.values()] if p.popen is not None}
    try:
        auth = setup_tenant(gateway)
        bodies = posts(args.n)
        # Let start-up work (quality tier loading, first connections) settle before counting.
        wait_drained(gateway, auth, nats_url, args.timeout)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        before_analysis, before_client = analysis_cpu(listening_log), time.process_time()
        log(f"posting {args.n} mentions, one per request, from {CLIENTS} clients through {gateway}")
        started = time.monotonic()
        refused = asyncio.run(post_all(gateway, auth, bodies))
        posted_s = time.monotonic() - started
        log(f"posted in {posted_s:.1f}s ({refused} refused); waiting for every consumer")
        drained_s = wait_drained(gateway, auth, nats_url, args.timeout)
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        client = time.process_time() - before_client
        accepted = args.n - refused
    finally:
        if stack is not None:
            stack.stop_all()

    analysis = analysis_cpu(listening_log) - before_analysis
    rows: list[tuple[str, float]] = []
    for name, seconds in spent.items():
        if name == "listening" and listening_log is not None:
            rows.append(("listening: analysis (worker thread)", analysis))
            rows.append(("listening: everything else", seconds - analysis))
        else:
            rows.append((name, seconds))
    total = sum(spent.values())
    print(
        f"{accepted} mentions accepted; posted in {posted_s:.1f} s, "
        f"drained {drained_s:.1f} s after the last post"
    )
    print("| process | CPU s | CPU ms per mention |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {1000 * seconds / accepted:.2f} |")
    print(f"| **stack total** | {total:.2f} | **{1000 * total / accepted:.2f}** |")
    print(f"| bench client (not in the total) | {client:.2f} | {1000 * client / accepted:.2f} |")
    if args.json:
        figures = {name: 1000 * s / accepted for name, s in rows}
        args.json.write_text(json.dumps({"accepted": accepted, "ms_per_mention": figures}, indent=2))
    return 0 if refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
