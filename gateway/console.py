"""The web console: static files from one folder, served by the gateway at `/console`.

Served on the API's own origin, the console needs no CORS and its SameSite=Strict refresh cookie works;
there is no second process to run or scale and no build step (the files are served as they are).
Only files inside the folder are served: the requested path is resolved (symbolic links and `..`
included) and must stay inside it; hidden names are never served. Every answer, a 404 included, carries
a Content-Security-Policy without inline scripts and refuses framing. `X-Content-Type-Options` and
`Referrer-Policy` come on every response of the process from uvicorn (`shared/runner.py`).
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response

from shared.errors import NotFound

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Revalidated on every use (`no-cache`), cheaply: an unchanged file answers 304 to its ETag.
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


class ConsoleFileNotFound(NotFound):
    type = "https://rapport.dev/problems/console-file-not-found"


def locate(root: Path, path: str) -> Path:
    """The file `path` names under `root` (resolved once, by the caller; `index.html` for the root), or
    ConsoleFileNotFound."""
    relative = path.strip("/") or "index.html"
    if any(part.startswith(".") for part in relative.split("/")) or "\x00" in relative:
        raise _missing()
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise _missing()
    return target


def serve(root: Path, path: str, request_headers: Headers) -> Response:
    """The file under the resolved `root` as an answer with the console's headers (HEAD and ranges as
    Starlette's FileResponse does them), or 304 when the client's copy is current."""
    target = locate(root, path)
    media_type = TYPES.get(target.suffix.lower(), "application/octet-stream")
    response = FileResponse(target, headers=HEADERS, media_type=media_type, stat_result=target.stat())
    etag = response.headers["etag"]
    if etag in [
        tag.strip().removeprefix("W/") for tag in request_headers.get("if-none-match", "").split(",")
    ]:
        kept = {"ETag": etag, "Last-Modified": response.headers["last-modified"], **HEADERS}
        return Response(status_code=304, headers=kept)
    return response


def _missing() -> ConsoleFileNotFound:
    return ConsoleFileNotFound("No console file at this path.", headers=dict(HEADERS))


def default_root() -> str:
    """`console/` beside the gateway package, in the repository's root."""
    return os.path.join(Path(__file__).resolve().parent.parent, "console")
