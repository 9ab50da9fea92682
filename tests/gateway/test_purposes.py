"""The processing table (`gateway/routes.py`, `PROCESSING`) declares every operation of the public API,
and docs/privacy.md shows it as it is."""

from __future__ import annotations

import importlib
import sys
from functools import cache
from pathlib import Path

import pytest

from gateway.routes import PATH, PROCESSING, RouteTable

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "listening", "profiles", "engagement", "metrics")
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


@cache
def operations() -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation the gateway routes, from the services' own documents."""
    table = RouteTable()
    found = []
    for name in SERVICES:
        app = importlib.import_module(f"services.{name}.app").create_app()
        for path, item in app.openapi()["paths"].items():
            for method in item:
                if method in HTTP_METHODS and table.match(method.upper(), path) is not None:
                    found.append((method.upper(), path))
    # The one operation the gateway answers itself.
    found.append(("POST", "/v1/conversations/stream/tickets"))
    return found


def test_every_operation_declares_its_purpose() -> None:
    table = RouteTable()
    undeclared = []
    for method, path in operations():
        entry = table.processing_of(method, path.split("/"))
        if entry is None or entry.template != path:
            undeclared.append(f"{method} {path}")
    assert undeclared == [], "declare these in gateway/routes.py PROCESSING"


def test_no_entry_names_an_operation_that_does_not_exist() -> None:
    """Exempt entries may name the consent and privacy routes before profiles serves them."""
    known = set(operations())
    stale = [
        f"{method} {entry.template}"
        for entry in PROCESSING
        for method in entry.methods
        if (method, entry.template) not in known and entry.purpose is not None
    ]
    assert stale == []


def test_each_operation_is_declared_once() -> None:
    seen: set[tuple[str, str]] = set()
    for entry in PROCESSING:
        for method in entry.methods:
            assert (method, entry.template) not in seen, (method, entry.template)
            seen.add((method, entry.template))


def test_a_person_is_found_only_on_routes_about_one() -> None:
    """The gateway checks profiles' routes by their `{profile_id}` (and a merge's other profile)."""
    checked = {(m, e.template) for e in PROCESSING if e.checked for m in e.methods}
    assert all(template.startswith("/v1/profiles/{profile_id}") for _, template in checked)
    for entry in PROCESSING:
        if entry.template.startswith("/v1/privacy") or "/consents" in entry.template:
            assert entry.purpose is None, entry.template
        for where in entry.people:
            assert where == PATH + "profile_id" or where == "body:other_id", where


def test_the_document_shows_the_table() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        purpose_table = importlib.import_module("purpose_table")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = purpose_table.DOC.read_text()
    if purpose_table.rendered(text) != text:
        pytest.fail(
            "docs/privacy.md's processing table is not the gateway's: run python scripts/purpose_table.py"
        )
    assert "(privacy.md)" in (ROOT / "docs" / "architecture.md").read_text()
