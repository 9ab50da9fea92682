"""The web console's files, served by the gateway at `/console`: the right types, the security headers on
every answer, cheap revalidation, and nothing outside the console's folder."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from rapport.stack import ROOT, Stack
from tests.gateway.helpers import Recorder, spawn_recorded_gateway
from tests.helpers import PROBLEM_JSON

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}
SECRET = "the file beside the console folder"
FILES = {
    "index.html": ("<!doctype html><title>test console</title>", "text/html; charset=utf-8"),
    "js/app.js": ("export const answer = 42;\n", "text/javascript; charset=utf-8"),
    "css/console.css": ("body { margin: 0 }\n", "text/css; charset=utf-8"),
    "i18n/ar.json": ('{"hello": "مرحبا"}', "application/json"),
    "img/logo.svg": ('<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


def assert_console_headers(response: httpx.Response | http.client.HTTPResponse) -> None:
    for name, value in HEADERS.items():
        # Exactly once: uvicorn adds two of them to every answer, and a second copy would be a bug.
        values = (
            response.headers.get_list(name)
            if isinstance(response, httpx.Response)
            else response.headers.get_all(name) or []
        )
        assert values == [value], (name, values)


@pytest.fixture(scope="module")
def console_gateway(
    stack: Stack, recorder: Recorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A gateway serving a console folder of known files, with a secret file beside the folder (one for
    the module: every test here only reads)."""
    tmp_path = tmp_path_factory.mktemp("console")
    root = tmp_path / "site" / "console"
    for name, (text, _) in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "img" / "logo.png").write_bytes(PNG)
    (root / ".env").write_text(SECRET)
    (root / "js" / "pages").mkdir()
    (tmp_path / "site" / "secret.txt").write_text(SECRET)
    (root / "js" / "escape.js").symlink_to(tmp_path / "site" / "secret.txt")
    proc = spawn_recorded_gateway(
        stack, recorder, tmp_path, "gateway-console", {"RAPPORT_CONSOLE_DIR": str(root)}
    )
    yield proc.url
    proc.stop()


def raw_get(base_url: str, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    """GET `path` exactly as written (httpx would resolve `..` before sending)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html"])
def test_the_stack_serves_the_consoles_index(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == (ROOT / "console" / "index.html").read_bytes()
    assert_console_headers(response)


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_is_served_with_its_type_and_the_headers(console_gateway: str, name: str) -> None:
    text, content_type = FILES[name]
    response = httpx.get(f"{console_gateway}/console/{name}", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert response.text == text
    assert_console_headers(response)


def test_a_png_is_served_as_an_image(console_gateway: str) -> None:
    response = httpx.get(f"{console_gateway}/console/img/logo.png", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == PNG


def test_an_unchanged_file_revalidates_with_304(console_gateway: str) -> None:
    first = httpx.get(f"{console_gateway}/console/js/app.js", timeout=30)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = httpx.get(f"{console_gateway}/console/js/app.js", headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag and again.headers["last-modified"] == modified
    assert_console_headers(again)
    other = httpx.get(f"{console_gateway}/console/js/app.js", headers={"If-None-Match": '"x"'}, timeout=30)
    assert other.status_code == 200 and other.text == FILES["js/app.js"][0]


def test_head_answers_the_headers_without_the_body(console_gateway: str) -> None:
    response = httpx.head(f"{console_gateway}/console/js/app.js", timeout=30)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(FILES["js/app.js"][0].encode()))
    assert_console_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/console/missing.js",
        "/console/js",  # a folder
        "/console/js/pages/",
        "/console/.env",  # hidden names are never served
        "/console/js/escape.js",  # a link leading out of the folder
    ],
)
def test_what_is_not_a_console_file_is_a_404_problem(console_gateway: str, path: str) -> None:
    response = httpx.get(f"{console_gateway}{path}", timeout=30)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"] == "https://rapport.dev/problems/console-file-not-found"
    assert SECRET not in response.text
    assert_console_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/console/../secret.txt",
        "/console/js/../../secret.txt",
        "/console/%2e%2e/secret.txt",
        "/console/%2E%2E%2Fsecret.txt",
        "/console/..%2fsecret.txt",
        "/console/..%5csecret.txt",
        "/console/%2e%2e%2f%2e%2e%2fgateway/app.py",
        "/console/../gateway/app.py",
        "/console//etc/passwd",
        "/console/%2fetc%2fpasswd",
        "/console/secret.txt%00.js",
    ],
)
def test_no_path_leads_out_of_the_console_folder(console_gateway: str, path: str) -> None:
    response, body = raw_get(console_gateway, path)
    assert response.status in (400, 404), (path, response.status)
    assert SECRET.encode() not in body and b"root:" not in body and b"create_app" not in body
    if response.status == 404:
        assert (response.getheader("content-type") or "").startswith(PROBLEM_JSON)
        assert_console_headers(response)


def test_the_stack_refuses_traversal_to_the_gateways_source(stack_gateway_url: str) -> None:
    for path in (
        "/console/../gateway/app.py",
        "/console/%2e%2e/gateway/app.py",
        "/console/..%2fgateway/app.py",
    ):
        response, body = raw_get(stack_gateway_url, path)
        assert response.status == 404, (path, response.status)
        assert b"create_app" not in body


@pytest.fixture
def stack_gateway_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")
