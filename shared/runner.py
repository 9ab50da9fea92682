"""`python -m services.<name>`: run one service with uvicorn."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

# On every response of every process, added by uvicorn as it writes the headers (no middleware cost),
# so problem documents, proxied answers and uvicorn's own errors carry them too.
SECURITY_HEADERS = [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer")]


def serve(create_app: Callable[[], FastAPI], *, name: str, default_port: int) -> None:
    """Parse `--host/--port` and serve the app until interrupted."""
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"Run the Rapport {name} process.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port, help="port to bind (default: %(default)s)")
    args = parser.parse_args()
    app = create_app()
    # Everything built so far (modules, models, routes) lives as long as the process: keep it out of the
    # collector's passes, which otherwise walk it again and again under load.
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        # No `server: uvicorn` banner: it only tells a scanner what to try.
        server_header=False,
        headers=SECURITY_HEADERS,
    )
