"""API4: a bulk import line the parser or the store cannot take is that line's error, never the import's.

Deep nesting (RecursionError), numbers too big for a count, dates whose UTC conversion overflows and NUL
characters used to fail the whole import with a 500.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx

from tests.helpers import Tenant, mention_payload, unique

MENTION_COLUMNS = ["platform", "external_id", "text", "created_at", "author_handle", "author_followers"]


def _import(client: httpx.Client, tenant: Tenant, body: bytes, media: str) -> dict[str, Any]:
    response = client.post(
        "/v1/mentions/import", content=body, headers={**tenant.headers, "Content-Type": media}, timeout=60
    )
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def _stored_ids(client: httpx.Client, tenant: Tenant) -> set[str]:
    page = client.get("/v1/mentions", params={"limit": 200}, headers=tenant.headers).json()
    return {m["external_id"] for m in page["items"]}


def test_jsonl_lines_that_break_the_parser_or_the_store_are_reported_and_the_rest_imported(
    client: httpx.Client, tenant: Tenant
) -> None:
    good = [mention_payload(external_id=unique("ok")) for _ in range(3)]
    lines = [
        json.dumps(good[0]),  # 1
        "[" * 100_000,  # 2: RecursionError in the JSON parser
        json.dumps(mention_payload(author={"handle": "big", "followers": 2**63})),  # 3
        json.dumps(mention_payload(created_at="0001-01-01T00:00:00+14:00")),  # 4
        json.dumps(mention_payload(created_at="9999-12-31T23:59:59-14:00")),  # 5
        json.dumps(mention_payload(text="nul\x00here")),  # 6
        json.dumps(mention_payload(external_id="id\x00")),  # 7
        json.dumps(mention_payload(author={"handle": "nul\x00"})),  # 8
        json.dumps(good[1]),  # 9
        '{"followers": ' + "9" * 5000 + "}",  # 10: over Python's integer-digits limit
        json.dumps(mention_payload(engagement={"likes": 10**20})),  # 11
        json.dumps(good[2]),  # 12
    ]
    summary = _import(client, tenant, "\n".join(lines).encode(), "application/x-ndjson")
    assert summary["accepted"] == 3, summary
    assert summary["rejected"] == 9
    assert [e["line"] for e in summary["errors"]] == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert summary["errors"][0]["error"] == "nested too deeply"
    # Errors never echo the rejected value back.
    assert "9223372036854775808" not in json.dumps(summary)
    assert _stored_ids(client, tenant) == {g["external_id"] for g in good}


def test_csv_rows_with_huge_counts_bad_dates_or_nul_are_reported_and_the_rest_imported(
    client: httpx.Client, tenant: Tenant
) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MENTION_COLUMNS)  # line 1
    ok = [unique("csv"), unique("csv")]
    writer.writerow(["x", ok[0], "fine", "2025-03-01T10:00:00Z", "ana", "12"])  # 2
    writer.writerow(["x", unique("csv"), "big", "2025-03-01T10:00:00Z", "ben", str(2**64)])  # 3
    writer.writerow(["x", unique("csv"), "old", "0001-01-01T00:00:00+14:00", "cy", ""])  # 4
    writer.writerow(["x", unique("csv"), "nul\x00", "2025-03-01T10:00:00Z", "di", ""])  # 5
    writer.writerow(["x", unique("csv"), "late", "9999-12-31T23:59:59-14:00", "ed", ""])  # 6
    writer.writerow(["x", ok[1], "fine too", "2025-03-01T11:00:00Z", "flo", "3"])  # 7
    summary = _import(client, tenant, buf.getvalue().encode(), "text/csv")
    assert summary["accepted"] == 2, summary
    assert [e["line"] for e in summary["errors"]] == [3, 4, 5, 6]
    assert _stored_ids(client, tenant) == set(ok)
