"""`rapport`: run the platform locally (`up`), migrate its databases (`migrate`), seed a demo (`demo`),
import mentions (`import`), snapshot and rebuild the scorecard's fact tables (`metrics`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

from rapport.importer import add_parser as add_import_parser
from rapport.metrics_cli import add_parser as add_metrics_parser
from rapport.stack import ROOT, Stack


def _status(name: str, message: str) -> None:
    print(f"  {name:<11} {message}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    """Start everything, print where it is, and stop it all on Ctrl-C."""
    stack = Stack(
        var_dir=Path(args.var_dir),
        fixed_ports=True,
        nats_url=os.environ.get("RAPPORT_NATS_URL"),
        redis_url=os.environ.get("RAPPORT_REDIS_URL"),
        database_urls=_database_urls(),
        status=_status,
    )
    print("Starting Rapport (Ctrl-C stops everything)…", flush=True)
    stopping = False

    def _stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        stack.start_all()
    except (RuntimeError, KeyboardInterrupt) as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        stack.stop_all()
        return 1
    print(
        f"\nRapport is up.\n  gateway   {stack.gateway_url}\n  console   {stack.console_url}\n"
        f"  API docs  {stack.gateway_url}/docs\n"
        f"  logs      {stack.log_dir}\n\nTry: make demo",
        flush=True,
    )
    try:
        while not stopping:
            dead = stack.dead()
            if dead:
                print(f"process exited: {', '.join(dead)}; see {stack.log_dir}", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        print("\nStopping…", flush=True)
        stack.stop_all()
    return 0 if stopping else 1


def _database_urls() -> dict[str, str]:
    from shared.migrations import SERVICES

    urls = {}
    for name in SERVICES:
        url = os.environ.get(f"RAPPORT_{name.upper()}_DATABASE_URL")
        if url:
            urls[name] = url
    return urls


def cmd_migrate(args: argparse.Namespace) -> int:
    """Upgrade the named services' databases to head, or autogenerate a new revision for one service."""
    from shared import migrations

    # Alembic logs each revision it applies ("Running upgrade a -> b, message"): show those lines only.
    applied = logging.StreamHandler(sys.stdout)
    applied.setFormatter(logging.Formatter("  %(message)s"))
    applied.addFilter(lambda record: record.getMessage().startswith("Running "))
    alembic_log = logging.getLogger("alembic")
    alembic_log.setLevel(logging.INFO)
    alembic_log.addHandler(applied)
    if args.revision:
        if args.message is None:
            print("--revision needs -m/--message (what the migration does)", file=sys.stderr)
            return 2
        path = migrations.new_revision(args.revision, args.message, url=args.url)
        _status(args.revision, f"wrote {path}")
        print("Review it (autogenerate misses renames and data moves), then run: python -m rapport migrate")
        return 0
    for name in args.services or migrations.SERVICES:
        migrations.upgrade_head(name, migrations.database_url(name))
        _status(name, f"at head ({', '.join(sorted(migrations.heads(name)))})")
    return 0


def _service_name(value: str) -> str:
    from shared.migrations import SERVICES

    if value not in SERVICES:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(SERVICES)}")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    """Create a demo tenant, ingest a multilingual batch and show what happened to it."""
    from rapport.demo import gateway_answers, run_demo

    if gateway_answers(args.gateway):
        return run_demo(args.gateway)
    print(f"No gateway answers at {args.gateway}: starting a temporary stack for the demo…", flush=True)
    stack = Stack(var_dir=Path(args.var_dir) / "demo", status=_status)
    try:
        stack.start_all()
        return run_demo(stack.gateway_url)
    finally:
        stack.stop_all()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rapport", description="Rapport, the open-source Social CRM.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="start NATS, Redis, the five services and the gateway",
        description="Start the whole platform on ports 8000-8005 with SQLite files under "
        "--var-dir. RAPPORT_NATS_URL / RAPPORT_REDIS_URL / "
        "RAPPORT_<SERVICE>_DATABASE_URL point any part at an external server.",
    )
    up.add_argument(
        "--var-dir", default=str(ROOT / "var"), help="where data and logs go (default: %(default)s)"
    )
    up.set_defaults(func=cmd_up)
    migrate = sub.add_parser(
        "migrate",
        help="upgrade the services' databases to the newest schema, or write a new migration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Upgrade each named service's database (all five by default) to head. A service's "
        "database is\nRAPPORT_<SERVICE>_DATABASE_URL, else RAPPORT_DATABASE_URL when RAPPORT_SERVICE names "
        "the service,\nelse the SQLite file <RAPPORT_VAR_DIR>/<service>.db (what `rapport up` uses).",
        epilog="examples:\n"
        "  python -m rapport migrate                      # every service to head\n"
        "  python -m rapport migrate profiles             # one service\n"
        '  python -m rapport migrate --revision profiles -m "add profile.email"\n'
        "      # after changing services/profiles/models.py: writes\n"
        "      # services/profiles/migrations/versions/<rev>_add_profile_email.py from the difference\n"
        "      # between the models and a scratch database at head (review it, then commit it)",
    )
    migrate.add_argument("services", nargs="*", type=_service_name, metavar="SERVICE", help="default: all")
    migrate.add_argument(
        "--revision",
        type=_service_name,
        metavar="SERVICE",
        help="autogenerate a new migration for SERVICE instead of upgrading",
    )
    migrate.add_argument("-m", "--message", help="with --revision: what the migration does")
    migrate.add_argument(
        "--url",
        help="with --revision: compare against this database (at head) instead of a scratch SQLite one",
    )
    migrate.set_defaults(func=cmd_migrate)
    demo = sub.add_parser("demo", help="seed a demo tenant and ingest a multilingual batch of posts")
    demo.add_argument("--gateway", default="http://127.0.0.1:8000", help="gateway URL (default: %(default)s)")
    demo.add_argument(
        "--start",
        action="store_true",
        help="start a temporary stack on free ports for the demo and stop it afterwards",
    )
    demo.add_argument("--var-dir", default=str(ROOT / "var"), help="data folder for --start")
    demo.set_defaults(func=cmd_demo)
    add_import_parser(sub)
    add_metrics_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
