"""The floor under the read budget: what a page of mentions costs with no database work at all.

    .venv/bin/python bench/read_floor.py            # SQLite stack, 100 rows per table, 3 rounds of 3 s
    .venv/bin/python bench/read_floor.py --rounds 5 --duration 4

The bench starts the stack and seeds a tenant as `bench/reads.py` does, then starts a second listening
process on the same databases with one more route, `/floor/mentions`: the list route's own signature
(its ten query parameters, the role and reader dependencies, `response_model=MentionPage`), routed
first (no other route is tried before it), answering a page of 20 mentions read once at its first request
and kept. Per request it does everything a list request does except the database read and building the
page: routing, the middlewares, token check, parameter parsing, response validation and JSON. It loads
`/healthz`, `/floor/mentions?limit=20` and the real `/v1/mentions?limit=20` of that process with 32
connections and prints req/s, the ratio to `/healthz` and CPU per request (from /proc), per round.

If the floor's ratio is at or under the budget (0.45), no change inside the route can meet the budget
for that page: what is left is the web framework's and the response model's own work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi import Query  # noqa: E402

from bench import reads  # noqa: E402
from rapport.stack import Stack, free_port, port_open  # noqa: E402
from services.listening.app import create_app  # noqa: E402
from services.listening.mentions import routes  # noqa: E402
from services.listening.mentions.logic import list_mentions  # noqa: E402
from services.listening.mentions.schemas import MentionPage  # noqa: E402
from shared.validation import Instant  # noqa: E402

TARGETS = (
    ("healthz", "/healthz"),
    ("floor", "/floor/mentions?limit=20"),
    ("mentions", "/v1/mentions?limit=20"),
)


def floor_app() -> Any:
    """listening's app with `/floor/mentions` routed first."""
    app = create_app()
    kept: dict[str, MentionPage] = {}

    async def floor(
        principal: routes.Staff,
        reader: routes.ReaderDep,
        limit: routes.LimitQuery = 50,
        cursor: routes.CursorQuery = None,
        platform: Annotated[str | None, Query(max_length=32)] = None,
        language: Annotated[str | None, Query(max_length=16)] = None,
        sentiment: routes.SentimentLabel | None = None,
        intent: routes.Intent | None = None,
        query_id: Annotated[str | None, Query(max_length=36)] = None,
        group_id: Annotated[str | None, Query(max_length=36)] = None,
        since: Annotated[Instant | None, Query()] = None,
        until: Annotated[Instant | None, Query()] = None,
    ) -> MentionPage:
        if "page" not in kept:
            kept["page"] = await list_mentions(
                reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor
            )
        return kept["page"]

    app.router.add_api_route("/floor/mentions", floor, methods=["GET"], response_model=MentionPage)
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100, help="rows per table of the tenant (default 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per endpoint")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        from shared.runner import serve

        sys.argv = [sys.argv[0], "--port", str(args.serve)]
        serve(floor_app, name="bench.read_floor", default_port=args.serve)
        return 0

    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="rapport-read-floor-")),
        env={
            "RAPPORT_ACCESS_TOKEN_TTL_S": "7200",
            "RAPPORT_LOG_LEVEL": "WARNING",
            "RAPPORT_CONNECTOR_PULLERS": "false",
            "RAPPORT_SPIKE_CHECK_INTERVAL_S": "86400",
        },
        status=lambda name, msg: reads.log(f"  {name}: {msg}"),
    )
    proc = None
    try:
        stack.start_all()
        reads.log("seeding")
        seeded = reads.seed(stack, {}, args.rows)
        listening = stack.procs["listening"]
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.read_floor", "--serve", str(port)],
            cwd=ROOT,
            env={**os.environ, **listening.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not port_open(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the floor process did not start")
            time.sleep(0.2)
        token = reads._login(stack.url("identity"), seeded.email)
        for _name, path in TARGETS:
            check = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
            if check.status_code != 200:
                raise RuntimeError(f"GET {path} answered {check.status_code}: {check.text[:300]}")
        for round_ in range(args.rounds):
            reads.log(f"round {round_ + 1}/{args.rounds}")
            health, health_cpu = None, 0.0
            for name, path in TARGETS:
                result, per_request = reads.measured(proc.pid, port, path, token, args)
                if result.non_2xx:
                    raise RuntimeError(f"GET {path} answered {result.non_2xx} non-2xx responses")
                if health is None:
                    health, health_cpu = result, per_request
                reads.log(
                    f"  {name:<9} {result.requests_per_s:7.0f} req/s  ratio "
                    f"{result.requests_per_s / health.requests_per_s:4.2f}  {per_request:6.0f} µs CPU/req  "
                    f"CPU ratio {health_cpu / per_request:4.2f}"
                )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        stack.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
