"""API8 security misconfiguration: NATS and Redis require credentials in the production deployment.

docker-compose.yml and deploy/k8s give NATS a user and password and Redis a password, from the
environment (compose) or the Secret `rapport-infra` (k8s), never written into a manifest. The services'
URLs carry them (`nats://rapport:PASSWORD@nats:4222`, `redis://:PASSWORD@redis:6379/0`), and the real
nats-server and redis-server, started with the deployment's own configuration, refuse a client without
them while nats-py and redis-py log in with such URLs.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import redis
from nats.errors import Error as NatsError

from rapport.stack import PROCESSES, free_port, nats_server_binary, port_open, redis_server_binary
from tests.deploy.test_manifests import (
    K8S,
    PASSWORDS,
    ROOT,
    containers,
    env_of,
    listed_files,
    load_docs,
    run_compose_config,
)

INFRA_SECRET = "rapport-infra"
SERVICES = [name for name in PROCESSES if name != "gateway"]


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = run_compose_config(tmp_path_factory.mktemp("compose"), PASSWORDS)
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for p in listed_files() for d in load_docs(p)}


def _serve(argv: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 10
    while not port_open(port):
        assert proc.poll() is None, f"{argv[0]} exited"
        assert time.monotonic() < deadline, f"{argv[0]} did not listen"
        time.sleep(0.05)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def compose_nats(compose: dict[str, Any]) -> Iterator[int]:
    """nats-server with docker-compose.yml's configuration file and password, on loopback."""
    service = compose["services"]["nats"]
    conf = next(v["source"] for v in service["volumes"] if v["target"] == "/etc/nats/nats.conf")
    port = free_port()
    proc = _serve(
        [nats_server_binary(), "-c", conf, "-a", "127.0.0.1", "-p", str(port)],
        port,
        env={"NATS_PASSWORD": service["environment"]["NATS_PASSWORD"]},
    )
    try:
        yield port
    finally:
        _stop(proc)


@pytest.fixture
def compose_redis(compose: dict[str, Any]) -> Iterator[int]:
    """redis-server with docker-compose.yml's arguments (password included), on loopback."""
    command = compose["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    port = free_port()
    proc = _serve([redis_server_binary(), *command[1:], "--port", str(port), "--bind", "127.0.0.1"], port)
    try:
        yield port
    finally:
        _stop(proc)


async def _nats_login(url: str) -> bool:
    try:
        nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0)
    except (NatsError, OSError):
        return False
    await nc.close()
    return True


@pytest.mark.anyio
async def test_compose_nats_refuses_clients_without_the_password(
    compose: dict[str, Any], compose_nats: int
) -> None:
    url = compose["services"]["listening"]["environment"]["RAPPORT_NATS_URL"]
    local = url.replace("@nats:4222", f"@127.0.0.1:{compose_nats}")
    assert await _nats_login(local), "nats-py could not log in with the services' URL"
    assert not await _nats_login(f"nats://127.0.0.1:{compose_nats}")
    assert not await _nats_login(f"nats://rapport:wrong@127.0.0.1:{compose_nats}")


def test_compose_redis_refuses_clients_without_the_password(
    compose: dict[str, Any], compose_redis: int
) -> None:
    url = compose["services"]["gateway"]["environment"]["RAPPORT_REDIS_URL"]
    local = url.replace("@redis:6379", f"@127.0.0.1:{compose_redis}")
    with redis.Redis.from_url(local) as ok:
        assert ok.ping() is True
    with redis.Redis.from_url(f"redis://127.0.0.1:{compose_redis}/0") as anonymous:
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
    # the healthcheck's redis-cli authenticates through REDISCLI_AUTH
    assert compose["services"]["redis"]["environment"]["REDISCLI_AUTH"] == PASSWORDS["REDIS_PASSWORD"]


def test_compose_turns_the_api_docs_off(compose: dict[str, Any]) -> None:
    for name in PROCESSES:
        assert compose["services"][name]["environment"]["RAPPORT_API_DOCS"] == "false", name


def _secret_ref(env: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    ref: dict[str, str] = env[name]["valueFrom"]["secretKeyRef"]
    return ref


def test_k8s_services_take_the_nats_password_from_the_secret(k8s: dict[tuple[str, str], Any]) -> None:
    for name in SERVICES:
        [container] = containers(k8s[("Deployment", name)])
        env = env_of(container)
        assert _secret_ref(env, "NATS_PASSWORD") == {"name": INFRA_SECRET, "key": "nats-password"}, name
        assert env["RAPPORT_NATS_URL"]["value"] == "nats://rapport:$(NATS_PASSWORD)@nats:4222", name
        names = [e["name"] for e in container["env"]]
        # Kubernetes expands $(VAR) only from variables defined before it.
        assert names.index("NATS_PASSWORD") < names.index("RAPPORT_NATS_URL"), name
    [gateway] = containers(k8s[("Deployment", "gateway")])
    env = env_of(gateway)
    assert _secret_ref(env, "REDIS_PASSWORD") == {"name": INFRA_SECRET, "key": "redis-password"}
    assert env["RAPPORT_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@redis:6379/0"
    names = [e["name"] for e in gateway["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("RAPPORT_REDIS_URL")


def test_k8s_nats_and_redis_require_the_secret(k8s: dict[tuple[str, str], Any], tmp_path: Path) -> None:
    [nats_container] = containers(k8s[("StatefulSet", "nats")])
    assert _secret_ref(env_of(nats_container), "NATS_PASSWORD") == {
        "name": INFRA_SECRET,
        "key": "nats-password",
    }
    conf = k8s[("ConfigMap", "nats-config")]["data"]["nats.conf"]
    assert re.search(r"authorization \{\s*user: rapport\s*password: \$NATS_PASSWORD\s*\}", conf), conf
    path = tmp_path / "nats.conf"
    path.write_text(conf)
    without = subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"],
        env={"POD_NAME": "nats-0"},
        capture_output=True,
        timeout=30,
    )
    assert without.returncode != 0, "NATS would start without its password"

    [redis_container] = containers(k8s[("Deployment", "redis")])
    args = redis_container["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    env = env_of(redis_container)
    for name in ("REDIS_PASSWORD", "REDISCLI_AUTH"):
        assert _secret_ref(env, name) == {"name": INFRA_SECRET, "key": "redis-password"}, name
    assert redis_container["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]


def test_no_password_is_written_into_a_manifest(k8s: dict[tuple[str, str], Any]) -> None:
    assert ("Secret", INFRA_SECRET) not in k8s, "the kustomization must not ship the Secret"
    example = {d["metadata"]["name"]: d for d in load_docs(K8S / "secrets.example.yaml")}
    assert set(example[INFRA_SECRET]["stringData"]) == {"nats-password", "redis-password"}
    assert set(example[INFRA_SECRET]["stringData"].values()) == {"CHANGE-ME"}
    for (kind, name), obj in k8s.items():
        if kind not in ("Deployment", "StatefulSet"):
            continue
        for container in containers(obj):
            for entry in container.get("env", []):
                value = str(entry.get("value", ""))
                # a URL's user info is only ever a variable put in from a Secret
                for userinfo in re.findall(r"://([^@/]*)@", value):
                    assert re.fullmatch(r"[a-z]*:\$\([A-Z_]+\)", userinfo), (name, entry["name"])
    compose_text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"requirepass\", \"[^$]", compose_text)
    assert not re.search(r"://[^@/$\s]*:[^@/$\s]+@", compose_text), "a literal password in docker-compose.yml"
