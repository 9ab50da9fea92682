"""Bulk import through the gateway: JSON Lines and CSV, streamed, bad lines reported by number."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from rapport.stack import ROOT, Stack
from tests.helpers import Tenant, add_user, assert_problem, mention_payload, unique
from tests.listening.channels.helpers import fixture_bytes


def jsonl(lines: list[Any]) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n"


def stored(client: httpx.Client, tenant: Tenant) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/mentions", headers=tenant.headers, params=params).json()
        ids |= {m["external_id"] for m in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def post_import(client: httpx.Client, user: Any, body: bytes | Iterator[bytes], media: str) -> httpx.Response:
    return client.post(
        "/v1/mentions/import", content=body, headers={**user.headers, "Content-Type": media}, timeout=120
    )


def test_jsonl_import_keeps_good_lines_and_reports_bad_ones_by_number(
    client: httpx.Client, tenant: Tenant
) -> None:
    good = [mention_payload(external_id=unique("imp")) for _ in range(5)]
    lines: list[Any] = [
        good[0],  # 1
        good[1],  # 2
        "{not json",  # 3
        "",  # 4 (blank lines are skipped)
        {**good[2], "text": ""},  # 5 empty text
        good[2],  # 6
        good[0],  # 7 duplicate of line 1
        {**good[3], "tenant_id": "other"},  # 8 unknown field
        good[3],  # 9
        {**good[4], "created_at": "yesterday"},  # 10
        good[4],  # 11
    ]
    response = post_import(client, tenant, jsonl(lines), "application/x-ndjson")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["accepted"] == 5 and summary["duplicates"] == 1 and summary["rejected"] == 4
    assert [e["line"] for e in summary["errors"]] == [3, 5, 8, 10]
    assert stored(client, tenant) == {g["external_id"] for g in good}
    # Importing the same file again stores nothing new.
    again = post_import(client, tenant, jsonl(lines), "application/x-ndjson").json()
    assert again["accepted"] == 0 and again["duplicates"] == 6


def test_csv_import_with_quoted_newlines_and_bad_rows(client: httpx.Client, tenant: Tenant) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "platform",
            "external_id",
            "text",
            "created_at",
            "url",
            "author_handle",
            "author_display_name",
            "author_followers",
            "in_reply_to",
            "rating",
        ]
    )  # line 1
    writer.writerow(
        [
            "reviews",
            "r-1",
            "Great kettle,\nboils fast",
            "2025-03-01T10:00:00Z",
            "",
            "ana",
            "Ana",
            "12",
            "",
            "5",
        ]
    )  # lines 2-3
    writer.writerow(["reviews", "r-2", "Lid broke", "not a date", "", "ben", "", "", "", "1"])  # line 4
    writer.writerow(
        [
            "reviews",
            "r-3",
            "Okay",
            "2025-03-02T10:00:00+01:00",
            "https://shop.example/r/3",
            "cy",
            "",
            "",
            "",
            "9",
        ]
    )  # line 5
    writer.writerow(["x", "t-4", "Love it", "2025-03-03T10:00:00Z", "", "dee", "", "40", "", ""])  # line 6
    buf.write("x,t-5,too few fields\n")  # line 7
    response = post_import(client, tenant, buf.getvalue().encode(), "text/csv; charset=utf-8")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["accepted"] == 2 and summary["rejected"] == 3
    assert [e["line"] for e in summary["errors"]] == [4, 5, 7]
    assert stored(client, tenant) == {"r-1", "t-4"}
    review = client.get("/v1/mentions", headers=tenant.headers, params={"platform": "reviews"}).json()[
        "items"
    ][0]
    assert review["text"] == "Great kettle,\nboils fast" and review["rating"] == 5


def test_reviews_csv_is_imported(client: httpx.Client, tenant: Tenant) -> None:
    response = post_import(client, tenant, fixture_bytes("reviews/reviews.csv"), "text/csv")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["accepted"] >= 1 and summary["rejected"] == 2  # the fixture's two bad rows
    ratings = [m["rating"] for m in client.get("/v1/mentions", headers=tenant.headers).json()["items"]]
    assert all(r is not None and 1 <= r <= 5 for r in ratings)


def test_large_import_streams_past_the_default_body_limit(client: httpx.Client, tenant: Tenant) -> None:
    # ~1.3 MB, over the gateway's 1 MiB default for other routes, sent chunked as it is generated
    # (long URLs make the bytes; the texts stay post-sized).
    base = mention_payload()
    rng = random.Random(7)
    words = [f"w{k}" for k in range(20_000)]

    def body() -> Iterator[bytes]:
        for i in range(550):
            text = " ".join(rng.choice(words) for _ in range(20))
            url = f"https://shop.example/{i}/" + "p" * 2000
            yield (json.dumps({**base, "external_id": f"bulk-{i}", "text": text, "url": url}) + "\n").encode()

    response = post_import(client, tenant, body(), "application/x-ndjson")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 550 and response.json()["rejected"] == 0
    too_big = client.post(
        "/v1/mentions",
        content=b"x" * (2 * 1024 * 1024),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert_problem(too_big, 413)


def test_import_auth_and_media_type(client: httpx.Client, tenant: Tenant) -> None:
    line = jsonl([mention_payload()])
    assert_problem(
        post_import(client, type("Anon", (), {"headers": {}})(), line, "application/x-ndjson"), 401
    )
    analyst = add_user(client, tenant, "analyst")
    assert_problem(post_import(client, analyst, line, "application/x-ndjson"), 403)
    assert_problem(post_import(client, tenant, line, "application/json"), 415)
    bad_header = post_import(client, tenant, b"foo,bar\n1,2\n", "text/csv")
    assert_problem(bad_header, 422)
    assert stored(client, tenant) == set()
    integration = add_user(client, tenant, "integration")
    assert post_import(client, integration, line, "application/x-ndjson").json()["accepted"] == 1


def test_cli_import_prints_the_summary(
    client: httpx.Client, tenant: Tenant, stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "mentions.jsonl"
    good = [mention_payload(external_id=unique("cli")) for _ in range(3)]
    path.write_bytes(jsonl([good[0], "oops", good[1], good[2]]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rapport",
            "import",
            str(path),
            "--gateway",
            stack.gateway_url,
            "--email",
            tenant.email,
            "--password",
            tenant.password,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "accepted 3" in result.stdout and "rejected 1" in result.stdout
    assert "line 2:" in result.stdout
    assert "100.0%" in result.stderr
    assert stored(client, tenant) == {g["external_id"] for g in good}
    help_text = subprocess.run(
        [sys.executable, "-m", "rapport", "import", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_text.returncode == 0 and "--token" in help_text.stdout
