"""An Arabic query term finds posts where the word carries a proclitic (و، ب، لل …)."""

from __future__ import annotations

import httpx

from tests.helpers import Tenant
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import create_query


def test_an_arabic_term_matches_through_attached_proclitics(client: httpx.Client, tenant: Tenant) -> None:
    query = create_query(client, tenant, "التوصيل")
    with_and = post_mention(client, tenant, text="المنتج ممتاز والتوصيل سريع")[1]
    with_to_the = post_mention(client, tenant, text="شكرا للتوصيل السريع")[1]
    unrelated = post_mention(client, tenant, text="المنتج ممتاز والسعر مناسب")[1]
    for mention_id in (with_and, with_to_the, unrelated):
        analysed(client, tenant, mention_id)

    found = [m["id"] for m in list_mentions(client, tenant, query_id=query["id"])["items"]]
    assert sorted(found) == sorted([with_and, with_to_the])
