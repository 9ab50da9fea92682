"""The distribution's Chromium as the console's browser tests and its bench launch it (Playwright drives
it and never downloads one of its own)."""

from __future__ import annotations

import os
import shutil

# What the machine's closed network needs: no background connections, no first-run, no sandbox as root.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
MISSING = "No Chromium: install the distribution's `chromium` or set RAPPORT_CHROMIUM."


def executable() -> str | None:
    """`RAPPORT_CHROMIUM`, else `chromium` on the PATH; None when there is neither."""
    return os.environ.get("RAPPORT_CHROMIUM") or shutil.which("chromium")
