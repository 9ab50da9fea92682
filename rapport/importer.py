"""`rapport import FILE`: stream a JSON Lines or CSV file of mentions to `POST /v1/mentions/import`.

The file is sent in chunks as it is read (never loaded whole), with a progress bar on stderr; the
server's summary (accepted, duplicates, rejected, and the first errors with their line numbers) is
printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

CHUNK = 256 * 1024
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


class Progress:
    """A one-line progress bar on a terminal stream: bytes sent of the total, rate, percentage."""

    def __init__(self, total: int, stream: IO[str] = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._shown >= 0.2 or self.done >= self.total:
            self._shown = now
            self.show()

    def show(self) -> None:
        frac = min(1.0, self.done / self.total)
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        rate = self.done / max(time.monotonic() - self.started, 1e-6) / 1e6
        self.stream.write(
            f"\r[{bar}] {frac * 100:5.1f}%  {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB  {rate:.1f} MB/s"
        )
        self.stream.flush()

    def finish(self, message: str) -> None:
        self.show()
        self.stream.write(f"\n{message}\n")
        self.stream.flush()


def _chunks(path: Path, progress: Progress | None) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if progress is not None:
                progress.advance(len(chunk))
            yield chunk


def _token(client: httpx.Client, args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    if args.email and args.password:
        response = client.post("/v1/auth/token", json={"email": args.email, "password": args.password})
        if response.status_code != 200:
            raise SystemExit(f"login failed: HTTP {response.status_code}")
        return str(response.json()["access_token"])
    env = os.environ.get("RAPPORT_TOKEN")
    if env:
        return env
    raise SystemExit("give --token, or --email and --password (or set RAPPORT_TOKEN)")


def _format(path: Path, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def run_import(args: argparse.Namespace) -> int:
    """Send the file and print the summary; exit status 0 when every line was accepted or a duplicate."""
    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    fmt = _format(path, args.format)
    total = path.stat().st_size
    timeout = httpx.Timeout(30.0, read=None)
    with httpx.Client(base_url=args.gateway, timeout=timeout) as client:
        token = _token(client, args)
        progress = None if args.quiet else Progress(total)
        response = client.post(
            "/v1/mentions/import",
            content=_chunks(path, progress),
            headers={"Authorization": f"Bearer {token}", "Content-Type": MEDIA_TYPES[fmt]},
        )
    if response.status_code != 200:
        if progress is not None:
            progress.finish("failed")
        print(f"import failed: HTTP {response.status_code}: {response.text[:500]}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = response.json()
    if progress is not None:
        progress.finish("done")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"lines {summary['lines']}  accepted {summary['accepted']}  "
            f"duplicates {summary['duplicates']}  rejected {summary['rejected']}"
        )
        for err in summary["errors"]:
            print(f"  line {err['line']}: {err['error']}")
        if summary["rejected"] > len(summary["errors"]):
            print(f"  … and {summary['rejected'] - len(summary['errors'])} more rejected lines")
        if summary.get("stopped_at_line"):
            print(f"  stopped at line {summary['stopped_at_line']}: the hourly ingest quota ran out")
    return 0 if summary["rejected"] == 0 and not summary.get("stopped_at_line") else 3


def add_parser(sub: Any) -> None:
    """The `import` subcommand."""
    p = sub.add_parser(
        "import",
        help="bulk import mentions from a JSON Lines or CSV file",
        description="Stream FILE to POST /v1/mentions/import with a progress bar. JSON Lines: one "
        "MentionCreate object per line. CSV columns: platform, external_id, text, created_at, url, "
        "author_handle, author_display_name, author_followers, in_reply_to, rating (or the reviews "
        "columns source, review_id, rating, title, text, author, date, url, language). Exit status: "
        "0 all lines stored or duplicates, 3 some lines rejected or not stored (the tenant's hourly "
        "ingest quota ran out), 1 the request failed.",
    )
    p.add_argument("file", help="the .jsonl/.ndjson or .csv file")
    p.add_argument("--gateway", default="http://127.0.0.1:8000", help="gateway URL (default: %(default)s)")
    p.add_argument("--token", help="an access token (or set RAPPORT_TOKEN)")
    p.add_argument("--email", help="log in with this e-mail instead of --token")
    p.add_argument("--password", help="the password for --email")
    p.add_argument("--format", choices=sorted(MEDIA_TYPES), help="default: from the file extension")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_import)
