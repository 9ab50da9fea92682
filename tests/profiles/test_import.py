"""Bulk import of a partner's customers: CSV and JSON Lines, streamed, with per-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.helpers import Tenant, add_user, assert_problem, unique
from tests.profiles.helpers import find_profiles, ingest, wait_for_profile
from tests.profiles.partners import upsert

NDJSON = "application/x-ndjson"


def run_import(client: httpx.Client, tenant: Tenant, content: Any, media: str) -> list[dict[str, Any]]:
    response = client.post(
        "/v1/profiles/import", content=content, headers={**tenant.headers, "Content-Type": media}, timeout=120
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    return [json.loads(line) for line in response.text.splitlines()]


def errors(report: list[dict[str, Any]]) -> dict[int, str]:
    return {line["line"]: line["error"] for line in report if "line" in line and "error" in line}


def stored(client: httpx.Client, tenant: Tenant, external_id: str, system: str = "shop") -> dict[str, Any]:
    """The profile of a partner id (an empty upsert changes nothing and answers it)."""
    response = upsert(client, tenant, external_id, system=system)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_csv_import_reports_bad_lines_and_stores_the_rest(client: httpx.Client, tenant: Tenant) -> None:
    ids = [unique("c") for _ in range(5)]
    handle = unique("@lee")
    csv = (
        "system,external_id,display_name,email,phone,website,handle_platform,handle,tags,attr.plan\r\n"
        f'shop,{ids[0]},"Lee, Ann",Lee@Example.com,+4915123456789,lee.example,x,{handle},vip;b2b,gold\r\n'
        f"shop,{ids[1]},Bad Mail,not-an-email,,,,,,\r\n"
        f"shop,{ids[2]},Bad Phone,,12,,,,,\r\n"
        "shop,,No Id,,,,,,,\r\n"
        f"shop,{ids[3]},Too,Few\r\n"
        f'crm,{ids[4]},"Multi\nLine",,,,,,,silver\r\n'
    )

    report = run_import(client, tenant, csv.encode(), "text/csv")

    assert report[-1] == {"summary": {"created": 2, "updated": 0, "unchanged": 0, "failed": 4, "lines": 8}}
    assert set(errors(report)) == {3, 4, 5, 6}
    assert (
        "email" in errors(report)[3] and "phone" in errors(report)[4] and "external_id" in errors(report)[5]
    )
    assert "Lee" not in json.dumps(report) and "not-an-email" not in json.dumps(report)
    assert any("progress" in line for line in report)
    lee = stored(client, tenant, ids[0])
    assert (lee["display_name"], lee["tags"], lee["attributes"]) == (
        "Lee, Ann",
        ["vip", "b2b"],
        {"plan": "gold"},
    )
    assert lee["handles"] == [{"platform": "x", "handle": handle}]
    assert stored(client, tenant, ids[4], system="crm")["display_name"] == "Multi\nLine"
    # Again: everything stored is unchanged, the bad lines are bad again.
    again = run_import(client, tenant, csv.encode(), "text/csv")
    assert again[-1]["summary"] == {"created": 0, "updated": 0, "unchanged": 2, "failed": 4, "lines": 8}


def test_jsonl_import_with_bad_lines(client: httpx.Client, tenant: Tenant) -> None:
    first, second = unique("c"), unique("c")
    lines = [
        {"system": "shop", "external_id": first, "display_name": "One", "tags": ["a"]},
        "{not json",
        {"system": "shop", "external_id": unique("c"), "phone": "call me"},
        {"system": "shop", "display_name": "No id"},
        {"system": "shop", "external_id": second, "email": "two@example.com", "attributes": {"tier": 2}},
        {"system": "shop", "external_id": first, "display_name": "One again"},
    ]
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n\n"

    report = run_import(client, tenant, body.encode(), "application/jsonl")

    assert report[-1]["summary"] == {"created": 2, "updated": 1, "unchanged": 0, "failed": 3, "lines": 7}
    assert set(errors(report)) == {2, 3, 4}
    assert errors(report)[2].startswith("not JSON")
    assert stored(client, tenant, first)["display_name"] == "One again"
    assert stored(client, tenant, second)["attributes"] == {"tier": 2}


def test_import_of_thousands_of_lines_streams_progress(client: httpx.Client, tenant: Tenant) -> None:
    n = 3000
    prefix = unique("bulk")

    def body() -> Iterator[bytes]:
        for i in range(n):
            line = {"system": "shop", "external_id": f"{prefix}-{i}", "display_name": f"Customer {i}"}
            if i % 1000 == 999:
                line["email"] = "broken"
            yield (json.dumps(line) + "\n").encode()

    report = run_import(client, tenant, body(), NDJSON)

    assert report[-1]["summary"] == {"created": n - 3, "updated": 0, "unchanged": 0, "failed": 3, "lines": n}
    assert sorted(errors(report)) == [1000, 2000, 3000]
    progress = [line["progress"] for line in report if "progress" in line]
    assert len(progress) >= n // 500
    assert [p["created"] for p in progress] == sorted(p["created"] for p in progress)
    assert stored(client, tenant, f"{prefix}-2998")["display_name"] == "Customer 2998"
    page = client.get("/v1/profiles", headers=tenant.headers, params={"limit": 200}).json()
    assert len(page["items"]) == 200 and page["next_cursor"]


def test_import_is_the_tenants_own(client: httpx.Client, tenant: Tenant, other_tenant: Tenant) -> None:
    external_id = unique("c")
    line = json.dumps({"system": "shop", "external_id": external_id, "display_name": "Mine"}) + "\n"

    run_import(client, tenant, line.encode(), NDJSON)

    assert find_profiles(client, other_tenant) == []
    mine = find_profiles(client, tenant)
    assert [p["display_name"] for p in mine] == ["Mine"]
    # The same partner id in another tenant is another customer.
    theirs = upsert(client, other_tenant, external_id, system="shop")
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != mine[0]["id"]


def test_bad_imports_are_refused(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    def post(content: bytes, media: str, user: Any = tenant) -> httpx.Response:
        return client.post(
            "/v1/profiles/import", content=content, headers={**user.headers, "Content-Type": media}
        )

    assert_problem(post(b'{"system": "shop"}\n', "application/json"), 415)
    assert_problem(post(b"", NDJSON), 422)
    assert_problem(post(b"", "text/csv"), 422)
    assert_problem(post(b"system,display_name\r\nshop,x\r\n", "text/csv"), 422)
    assert_problem(post(b"system,external_id,shoe_size\r\nshop,1,44\r\n", "text/csv"), 422)
    analyst = add_user(accounts, tenant, "analyst")
    assert_problem(post(b"{}\n", NDJSON, analyst), 403)
    partner = add_user(accounts, tenant, "integration")
    line = json.dumps({"system": "shop", "external_id": unique("c")}).encode()
    response = post(line, NDJSON, partner)
    assert response.status_code == 200, response.text
    assert json.loads(response.text.splitlines()[-1])["summary"]["created"] == 1
    assert find_profiles(client, tenant) != []


def test_body_over_the_limit_is_refused(stack_profiles: httpx.Client, tenant: Tenant) -> None:
    chunk = b" " * (1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(51):
            yield chunk

    response = stack_profiles.post(
        "/v1/profiles/import", content=body(), headers={**tenant.headers, "Content-Type": NDJSON}
    )

    assert_problem(response, 413)


def test_imported_identifier_of_another_profile_stays_there(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@kim")
    ingest(client, tenant, author={"handle": handle})
    from_mention = wait_for_profile(client, tenant, handle)
    first, second = unique("c"), unique("c")
    lines = [
        {"system": "shop", "external_id": first, "handles": [{"platform": "x", "handle": handle}]},
        {"system": "shop", "external_id": second, "handles": [{"platform": "instagram", "handle": handle}]},
        {"system": "crm", "external_id": second, "handles": [{"platform": "instagram", "handle": handle}]},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines)

    report = run_import(client, tenant, body.encode(), NDJSON)

    assert report[-1]["summary"] == {"created": 3, "updated": 0, "unchanged": 0, "failed": 0, "lines": 3}
    assert stored(client, tenant, first)["handles"] == []
    assert stored(client, tenant, second)["handles"] == [{"platform": "instagram", "handle": handle}]
    assert stored(client, tenant, second, system="crm")["handles"] == []
    assert [p["id"] for p in find_profiles(client, tenant, handle=handle, platform="x")] == [
        from_mention["id"]
    ]
