"""A deleted query leaves its mentions: no read lists it, and filtering by it finds nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Tenant, User
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import create_query


def _listed(client: httpx.Client, user: User, **params: Any) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in list_mentions(client, user, **params)["items"]}


def test_a_deleted_query_is_gone_from_matches_and_filters(client: httpx.Client, tenant: Tenant) -> None:
    kept = create_query(client, tenant, "acme")
    deleted = create_query(client, tenant, "acme AND late", kind="topic")
    _, mention_id = post_mention(client, tenant, text="Acme parcel is late again")
    mention = analysed(client, tenant, mention_id)
    assert sorted(mention["matched_query_ids"]) == sorted([kept["id"], deleted["id"]])
    assert list(_listed(client, tenant, query_id=deleted["id"])) == [mention_id]

    response = client.delete(f"/v1/listening/queries/{deleted['id']}", headers=tenant.headers)
    assert response.status_code == 204, response.text

    read = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
    assert read["matched_query_ids"] == [kept["id"]]
    assert _listed(client, tenant)[mention_id]["matched_query_ids"] == [kept["id"]]
    assert _listed(client, tenant, query_id=kept["id"])[mention_id]["matched_query_ids"] == [kept["id"]]
    # Like any filter value nothing has: an empty page, not a 404.
    assert list_mentions(client, tenant, query_id=deleted["id"]) == {"items": [], "next_cursor": None}


def test_an_unknown_or_foreign_query_id_finds_nothing(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign = create_query(client, other_tenant, "acme")
    _, mention_id = post_mention(client, other_tenant, text="Acme parcel is late again")
    analysed(client, other_tenant, mention_id)

    for query_id in (foreign["id"], "00000000-0000-0000-0000-000000000000"):
        assert list_mentions(client, tenant, query_id=query_id) == {"items": [], "next_cursor": None}
