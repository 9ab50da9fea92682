"""What the gateway costs: one authenticated read, direct to its service, through the gateway, through nginx.

    python bench/gateway.py                      # starts its own stack (rapport.stack), ~1 min
    python bench/gateway.py --gateway-url http://127.0.0.1:8000 --service-url http://127.0.0.1:8001 \\
        --token "$TOKEN" --path /v1/me           # a running stack (rate limit raised for the bench!)
    python bench/gateway.py --synthetic          # the gateway's own ceiling, see below
    python bench/gateway.py --synthetic --consent --runs 5   # and the consent check's cost, 5 runs

The real services spend milliseconds per request in their database, so through them the gateway's cost
hides behind theirs. `--synthetic` puts a lean FastAPI service instead (it verifies the token like every
service and answers `GET /v1/me` from the claims) behind a real gateway and Redis: that ratio is the
gateway's cost at its worst.

Each target gets a short warm-up, then `--duration` seconds of load from `wrk` (if installed) or a bounded
Python load generator, always on 127.0.0.1. nginx (if installed) runs as a foreground child with its own
config in a temporary folder, proxying to the same service with upstream keep-alive, as a reference.
Reported: requests/s, p50, p99, non-2xx answers, and the ratio to the direct figure.

`--consent` (with `--synthetic`) measures a consent-checked route beside the same route without the
check: the lean service answers `GET /v1/profiles/{id}` (which the gateway checks for `profiling`: one
more Redis round trip, and the audit record published to JetStream and acknowledged before the answer)
and `GET /v1/profiles` (the same answer, not checked: it names no person) alike. Both go through the
gateway, under load and with one connection (the latency a single client sees); the person's consent is
projected into the bench's Redis first. `--runs N` repeats everything N times and reports the median and
the spread (min to max) of the ratios and of the p50 the check adds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rapport.stack import (  # noqa: E402
    Proc,
    Stack,
    free_port,
    nats_server_binary,
    port_open,
    redis_server_binary,
)

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_DURATION_S = 120.0


@dataclass
class Result:
    target: str
    url: str
    tool: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    ratio: float | None = None
    # CPU microseconds per request of the processes watched (synthetic: gateway, nats, redis).
    cpu_us: dict[str, float] | None = None


def _local(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"refusing to load {url}: the bench only targets 127.0.0.1")
    return url.rstrip("/")


# Load generators.

_WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, headers: dict[str, str], *, duration: float, connections: int, threads: int) -> Result:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {p: float(v) * _UNIT_MS[u] for p, v, u in _WRK_LATENCY.findall(out)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        target="",
        url=url,
        tool="wrk",
        requests_per_s=rps,
        p50_ms=latency.get("50", float("nan")),
        p99_ms=latency.get("99", float("nan")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def run_python(url: str, headers: dict[str, str], *, duration: float, connections: int) -> Result:
    """A bounded closed-loop load: `connections` workers, each one request at a time, for `duration` s."""
    import aiohttp

    async def go() -> tuple[list[float], int, int]:
        latencies: list[float] = []
        counts = {"non_2xx": 0, "errors": 0}
        deadline = time.perf_counter() + duration
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    try:
                        async with session.get(url) as resp:
                            await resp.read()
                            if not 200 <= resp.status < 300:
                                counts["non_2xx"] += 1
                    except aiohttp.ClientError:
                        counts["errors"] += 1
                        continue
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(worker() for _ in range(connections)))
        return latencies, counts["non_2xx"], counts["errors"]

    started = time.perf_counter()
    latencies, non_2xx, errors = asyncio.run(go())
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [float("nan")]
    return Result(
        target="",
        url=url,
        tool="python",
        requests_per_s=len(latencies) / elapsed,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        non_2xx=non_2xx,
        errors=errors,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    target: str,
    url: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    *,
    connections: int | None = None,
    watch: dict[str, int] | None = None,
) -> Result:
    check = httpx.get(url, headers=headers, timeout=10)
    if check.status_code != 200:
        raise SystemExit(f"{target}: GET {url} answered {check.status_code}: {check.text[:300]}")
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    conns = connections or args.connections
    threads = min(args.threads, conns)
    rounds: list[Result] = []
    watch = watch or {}
    for _ in range(args.rounds):
        if use_wrk:
            run_wrk(url, headers, duration=args.warmup, connections=conns, threads=threads)
            before = {name: cpu_seconds(pid) for name, pid in watch.items()}
            result = run_wrk(url, headers, duration=args.duration, connections=conns, threads=threads)
        else:
            run_python(url, headers, duration=args.warmup, connections=conns)
            before = {name: cpu_seconds(pid) for name, pid in watch.items()}
            result = run_python(url, headers, duration=args.duration, connections=conns)
        served = result.requests_per_s * args.duration
        if watch and served:
            result.cpu_us = {
                name: (cpu_seconds(pid) - before[name]) / served * 1e6 for name, pid in watch.items()
            }
        rounds.append(result)
    # The median round by throughput: the machine is shared, single rounds are noisy.
    best = sorted(rounds, key=lambda r: r.requests_per_s)[len(rounds) // 2]
    best.target = target
    cpu = "".join(f"  {name} {us:.0f} us" for name, us in (best.cpu_us or {}).items())
    print(
        f"  {target:<11} {best.requests_per_s:>7.0f} req/s  p50 {best.p50_ms:6.2f} ms  "
        f"p99 {best.p99_ms:7.2f} ms  non-2xx {best.non_2xx}  errors {best.errors}"
        + (f"  CPU/request:{cpu}" if cpu else ""),
        flush=True,
    )
    return best


# nginx as the reference proxy.

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream service {{
        server {upstream};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


class Nginx:
    """nginx in the foreground on a free port, with its own config and temp folders."""

    def __init__(self, binary: str, service_url: str, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        conf = tmp / "nginx.conf"
        user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        conf.write_text(
            NGINX_CONF.format(tmp=tmp, user=user, upstream=urlsplit(service_url).netloc, port=self.port)
        )
        self.proc = subprocess.Popen(
            [binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (tmp / "error.log").read_text(errors="replace") if (tmp / "error.log").exists() else ""
                self.stop()
                raise RuntimeError(f"nginx did not start: {log[-500:]}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# The synthetic upstream: a lean service, a gateway and Redis.


def serve_synthetic(port: int, jwks_file: Path) -> None:
    """Run the lean service (in a child process started by `Synthetic`)."""
    import uvicorn
    from fastapi import Depends, FastAPI

    from shared.auth import ROLES, Principal, TokenVerifier, require_roles
    from shared.settings import Settings

    jwks: dict[str, Any] = json.loads(jwks_file.read_text())
    settings = Settings()

    async def source() -> dict[str, Any]:
        return jwks

    app = FastAPI(title="synthetic service")
    app.state.verifier = TokenVerifier(
        issuer=settings.jwt_issuer, audience=settings.jwt_audience, jwks=source
    )

    @app.get("/v1/me")
    async def me(principal: Principal = Depends(require_roles(*ROLES))) -> dict[str, str]:
        """The caller, from the verified token."""
        return {"id": principal.user_id, "tenant_id": principal.tenant_id, "role": principal.role}

    @app.get("/v1/profiles")
    async def profiles(principal: Principal = Depends(require_roles(*ROLES))) -> dict[str, str]:
        """Not checked by the gateway (it names no person): the same answer as `/v1/me`."""
        return {"id": principal.user_id, "tenant_id": principal.tenant_id, "role": principal.role}

    @app.get("/v1/profiles/{profile_id}")
    async def profile(
        profile_id: str, principal: Principal = Depends(require_roles(*ROLES))
    ) -> dict[str, str]:
        """Checked by the gateway (`profiling`, the person in the path): the same answer."""
        return {"id": principal.user_id, "tenant_id": principal.tenant_id, "role": principal.role}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        """The key set."""
        return jwks

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        """Ready."""
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


class Synthetic:
    """Redis, the lean service and a gateway in front of it, as child processes."""

    def __init__(self, tmp: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jose import jwt

        from shared.settings import Settings

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        kid = os.urandom(8).hex()
        jwk = {
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
        }
        (tmp / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        settings, now = Settings(), int(time.time())
        claims = {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": "bench-user",
            "tid": "bench-tenant",
            "role": "owner",
            "iat": now,
            "exp": now + 3600,
        }
        self.token: str = jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})
        redis_port, service_port, gateway_port, nats_port = free_port(), free_port(), free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.service_url = f"http://127.0.0.1:{service_port}"
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        gateway_env = {
            **{
                f"RAPPORT_{name}_URL": self.service_url
                for name in ("IDENTITY", "LISTENING", "PROFILES", "ENGAGEMENT", "METRICS")
            },
            "RAPPORT_REDIS_URL": self.redis_url,
            # The gateway publishes the audit records of consent-checked requests to JetStream.
            "RAPPORT_NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "RAPPORT_RATE_LIMIT_PER_WINDOW": str(10**9),
            "RAPPORT_LOG_LEVEL": "WARNING",
        }
        redis_argv = [
            redis_server_binary(),
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        nats_argv = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(nats_port),
            "-js",
            "-sd",
            str(tmp / "js"),
        ]
        self.procs = [
            Proc("redis", redis_argv, redis_port, tmp / "redis.log"),
            Proc("nats", nats_argv, nats_port, tmp / "nats.log"),
            Proc(
                "service",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--serve-synthetic",
                    str(service_port),
                    str(tmp / "jwks.json"),
                ],
                service_port,
                tmp / "service.log",
            ),
            Proc(
                "gateway",
                [sys.executable, "-m", "gateway", "--port", str(gateway_port)],
                gateway_port,
                tmp / "gateway.log",
                env=gateway_env,
            ),
        ]
        for proc in self.procs:
            proc.spawn()
            deadline = time.monotonic() + 30
            while not port_open(proc.port):
                if not proc.alive() or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{proc.name} did not start; see {proc.log_path}")
                time.sleep(0.05)

    def pids(self) -> dict[str, int]:
        """The processes whose CPU per request is reported."""
        return {p.name: p.popen.pid for p in self.procs if p.popen is not None}

    def project_consent(self) -> None:
        """The consent projection ready, and the bench's person granted profiling (a full hash to read)."""
        from redis.asyncio import Redis

        from shared import consent

        async def write() -> None:
            redis = Redis.from_url(self.redis_url)
            try:
                await consent.project_person(redis, "bench-tenant", PERSON, {"profiling": "granted"})
                await consent.mark_ready(redis)
            finally:
                await redis.aclose()

        asyncio.run(write())

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


PERSON = "bench-person"
CHECKED = f"/v1/profiles/{PERSON}"
UNCHECKED = "/v1/profiles"


def _b64(value: int) -> str:
    return (
        base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
    )


# The stack and a token.


def start_stack(var_dir: Path) -> Stack:
    env = {
        # The bench measures the gateway's cost, not its limits: raise them far above any load here.
        "RAPPORT_RATE_LIMIT_PER_WINDOW": str(10**9),
        "RAPPORT_PUBLIC_RATE_LIMIT_PER_WINDOW": str(10**9),
        "RAPPORT_LOG_LEVEL": "WARNING",
    }
    stack = Stack(var_dir=var_dir, env=env, status=lambda name, msg: print(f"  {name}: {msg}", flush=True))
    stack.start_all()
    return stack


def bench_token(gateway_url: str) -> str:
    email = f"bench-{os.urandom(4).hex()}@example.com"
    password = os.urandom(12).hex()
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        signup = client.post(
            "/v1/tenants", json={"name": "Bench", "admin_email": email, "admin_password": password}
        )
        signup.raise_for_status()
        login = client.post("/v1/auth/token", json={"email": email, "password": password})
        login.raise_for_status()
        token: str = login.json()["access_token"]
        return token


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/gateway.py",
        description="Measure one authenticated read direct to its service, through the gateway and "
        "through nginx (reference), on 127.0.0.1.",
    )
    parser.add_argument("--gateway-url", help="a running gateway (default: start a stack)")
    parser.add_argument("--service-url", help="the service behind --path, direct (with --gateway-url)")
    parser.add_argument("--token", help="a bearer token for --path (with --gateway-url)")
    parser.add_argument("--path", default="/v1/me", help="the GET to measure (default: %(default)s)")
    parser.add_argument(
        "--service",
        default="identity",
        help="service owning --path, for a started stack (default: %(default)s)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per target (default: 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of warm-up per target (default: 2)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds per target; the median is kept (default: 1)"
    )
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default: 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default: 1)")
    parser.add_argument(
        "--python-load", action="store_true", help="use the Python load generator even if wrk exists"
    )
    parser.add_argument("--no-nginx", action="store_true", help="skip the nginx reference")
    parser.add_argument(
        "--synthetic", action="store_true", help="a lean service instead of the stack: the gateway's own cost"
    )
    parser.add_argument(
        "--consent",
        action="store_true",
        help="with --synthetic: a consent-checked route beside the same route without the check",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat every measurement; median and spread (default: 1)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--serve-synthetic", nargs=2, metavar=("PORT", "JWKS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_synthetic:
        return args
    if args.synthetic and (args.gateway_url or args.path != "/v1/me"):
        parser.error("--synthetic starts its own processes and serves only /v1/me")
    if args.consent and not args.synthetic:
        parser.error("--consent needs --synthetic")
    if not 1 <= args.runs <= 10:
        parser.error("--runs must be 1..10")
    if args.gateway_url and not (args.service_url and args.token):
        parser.error("--gateway-url needs --service-url and --token")
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        parser.error(f"--duration and --warmup must be within {MAX_DURATION_S:.0f} s")
    if not 1 <= args.connections <= 1024 or not 1 <= args.rounds <= 10:
        parser.error("--connections must be 1..1024 and --rounds 1..10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_synthetic:
        serve_synthetic(int(args.serve_synthetic[0]), Path(args.serve_synthetic[1]))
        return 0
    stack: Stack | None = None
    synthetic: Synthetic | None = None
    nginx: Nginx | None = None
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if args.gateway_url:
                gateway_url, service_url, token = args.gateway_url, args.service_url, args.token
            elif args.synthetic:
                print("starting Redis, a lean service and a gateway ...", flush=True)
                synthetic = Synthetic(tmp)
                gateway_url, service_url, token = (
                    synthetic.gateway_url,
                    synthetic.service_url,
                    synthetic.token,
                )
            else:
                print("starting a stack ...", flush=True)
                stack = start_stack(tmp / "var")
                gateway_url, service_url = stack.gateway_url, stack.url(args.service)
                token = bench_token(gateway_url)
            gateway_url, service_url = _local(gateway_url), _local(service_url)
            headers = {"Authorization": f"Bearer {token}"}
            tool = "wrk" if shutil.which("wrk") and not args.python_load else "python load generator"
            print(
                f"GET {args.path}: {args.duration:.0f} s per target, {args.connections} connections, {tool}",
                flush=True,
            )
            if synthetic is not None and args.consent:
                synthetic.project_consent()
            binary = shutil.which("nginx") or next(
                (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
            )
            if args.no_nginx:
                print("  nginx    skipped (--no-nginx)")
            elif binary is None:
                print("  nginx    not found: skipped (apt-get install -y nginx)")
            else:
                (tmp / "nginx").mkdir()
                nginx = Nginx(binary, service_url, tmp / "nginx")
            runs: list[list[Result]] = []
            for run in range(args.runs):
                if args.runs > 1:
                    print(f"run {run + 1} of {args.runs}", flush=True)
                watch = synthetic.pids() if synthetic is not None else None
                results = [measure("direct", service_url + args.path, headers, args, watch=watch)]
                results.append(measure("gateway", gateway_url + args.path, headers, args, watch=watch))
                if nginx is not None:
                    results.append(measure("nginx", nginx.url + args.path, headers, args))
                if args.consent:
                    results += consent_targets(service_url, gateway_url, headers, args, watch)
                runs.append(results)
        finally:
            if nginx is not None:
                nginx.stop()
            if stack is not None:
                stack.stop_all()
            if synthetic is not None:
                synthetic.stop()
    for results in runs:
        by_target = {r.target: r for r in results}
        for result in results:
            # A checked route is compared with its own path direct; everything else with --path direct.
            base = by_target.get("p-direct") if result.target.startswith("p-") else by_target["direct"]
            result.ratio = (
                result.requests_per_s / base.requests_per_s if base and base.requests_per_s else None
            )
    for n, results in enumerate(runs, 1):
        print(f"\n{'run ' + str(n) if len(runs) > 1 else 'results'}")
        print(f"{'target':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}")
        for r in results:
            print(
                f"{r.target:<12} {r.requests_per_s:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                f"{r.ratio or 0:>6.2f}"
            )
    summary(runs, consent=args.consent)
    if args.json:
        args.json.write_text(json.dumps([[asdict(r) for r in results] for results in runs], indent=2))
    bad = sorted({r.target for results in runs for r in results if r.non_2xx or r.errors})
    if bad:
        print(f"warning: non-2xx answers or socket errors from {', '.join(bad)}: figures are suspect")
    return 0


def consent_targets(
    service_url: str,
    gateway_url: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    watch: dict[str, int] | None,
) -> list[Result]:
    """The checked route direct and through the gateway, beside the unchecked one; then one connection."""
    return [
        measure("p-direct", service_url + CHECKED, headers, args, watch=watch),
        measure("p-unchecked", gateway_url + UNCHECKED, headers, args, watch=watch),
        measure("p-checked", gateway_url + CHECKED, headers, args, watch=watch),
        measure("1-unchecked", gateway_url + UNCHECKED, headers, args, connections=1, watch=watch),
        measure("1-checked", gateway_url + CHECKED, headers, args, connections=1, watch=watch),
    ]


def _spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    low, high = format(min(values), fmt), format(max(values), fmt)
    return f"{format(statistics.median(values), fmt)} (spread {low} to {high})"


def summary(runs: list[list[Result]], *, consent: bool) -> None:
    """The gateway/direct ratio and, with `consent`, what the check adds, over the runs."""

    def of(target: str) -> list[Result]:
        return [r for results in runs for r in results if r.target == target]

    ratios = [r.ratio or 0 for r in of("gateway")]
    print(f"\ngateway / direct = {_spread(ratios, '.2f')} over {len(runs)} run(s) (goal >= 0.60)")
    if not consent:
        return
    checked = [r.ratio or 0 for r in of("p-checked")]
    unchecked = [r.ratio or 0 for r in of("p-unchecked")]
    print(f"checked route, gateway / direct = {_spread(checked, '.2f')}")
    print(f"unchecked route, gateway / direct = {_spread(unchecked, '.2f')}")
    for label, a, b in (
        ("under load", of("p-checked"), of("p-unchecked")),
        ("one connection", of("1-checked"), of("1-unchecked")),
    ):
        added = [x.p50_ms - y.p50_ms for x, y in zip(a, b, strict=True)]
        print(f"p50 added by the check, {label}: {_spread(added, '.3f')} ms")
    for name in of("p-checked")[0].cpu_us or {}:
        extra = [
            (x.cpu_us or {})[name] - (y.cpu_us or {})[name]
            for x, y in zip(of("p-checked"), of("p-unchecked"), strict=True)
        ]
        print(f"CPU per request added by the check, {name}: {_spread(extra, '.0f')} us")


if __name__ == "__main__":
    sys.exit(main())
