"""`GET /v1/mentions`: newest post first, keyset pages, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers import Tenant, assert_problem
from tests.listening.helpers import analysed, list_mentions, post_mention


def test_mentions_page_newest_post_first_over_three_pages(client: httpx.Client, tenant: Tenant) -> None:
    start = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    # Ingested out of order: the post's own time decides the order, not the time of arrival.
    offsets = [3, 0, 4, 1, 2]
    ids = {}
    for minutes in offsets:
        _, ids[minutes] = post_mention(
            client, tenant, created_at=(start + timedelta(minutes=minutes)).isoformat()
        )

    pages = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = list_mentions(client, tenant, **params)
        pages.append([m["id"] for m in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == [ids[m] for m in (4, 3, 2, 1, 0)]


def test_filters_narrow_the_list(client: httpx.Client, tenant: Tenant) -> None:
    _, en_complaint = post_mention(
        client, tenant, platform="x", text="The update is terrible, it broke my phone."
    )
    _, sv_praise = post_mention(client, tenant, platform="instagram", text="Tack för hjälpen, ni är bäst!")
    _, ar_question = post_mention(client, tenant, platform="x", text="هل يوجد فرع في دبي؟")
    for mention_id in (en_complaint, sv_praise, ar_question):
        analysed(client, tenant, mention_id)

    def ids(**params: str) -> set[str]:
        return {m["id"] for m in list_mentions(client, tenant, **params)["items"]}

    assert ids(platform="instagram") == {sv_praise}
    assert ids(platform="x") == {en_complaint, ar_question}
    assert ids(language="ar") == {ar_question}
    assert ids(sentiment="positive") == {sv_praise}
    assert ids(intent="complaint") == {en_complaint}
    assert ids(platform="x", intent="question") == {ar_question}
    assert ids(platform="facebook") == set()


@pytest.mark.parametrize(
    "params",
    [{"sentiment": "great"}, {"intent": "buying"}, {"limit": "0"}, {"limit": "201"}, {"limit": "many"}],
    ids=["unknown_sentiment", "unknown_intent", "limit_zero", "limit_too_big", "limit_not_a_number"],
)
def test_bad_list_parameters_are_422(client: httpx.Client, tenant: Tenant, params: dict[str, str]) -> None:
    assert_problem(client.get("/v1/mentions", headers=tenant.headers, params=params), 422)


def test_bad_cursor_is_400(client: httpx.Client, tenant: Tenant) -> None:
    assert_problem(client.get("/v1/mentions", headers=tenant.headers, params={"cursor": "not-a-cursor"}), 400)
