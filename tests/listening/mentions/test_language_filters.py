"""`bs`, `hr`, `sr` and `hbs` are one language to every filter, query, label and counter."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import Tenant, User, wait_until
from tests.listening.helpers import list_mentions, post_analysed
from tests.listening.queries.helpers import create_query

BOSNIAN = "Acme: naručio sam prije dvije sedmice, još ništa nije stiglo. Užas!"
ENGLISH = "Acme parcel never arrived and nobody answers my messages"


def _ids(client: httpx.Client, user: User, **params: Any) -> list[str]:
    return [m["id"] for m in list_mentions(client, user, **params)["items"]]


def _label(client: httpx.Client, tenant: Tenant, mention_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/mentions/{mention_id}/labels", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    label: dict[str, Any] = response.json()
    return label


def _by_language(client: httpx.Client, tenant: Tenant, expected: dict[str, int]) -> dict[str, int]:
    """Wait until the scorecard counts `expected` by language; fail showing the last count."""
    seen: list[dict[str, int]] = []

    def check() -> dict[str, int] | None:
        response = client.get("/v1/metrics/scorecard", headers=tenant.headers)
        assert response.status_code == 200, response.text
        seen.append(response.json()["listening"]["mentions"]["by_language"])
        return seen[-1] if seen[-1] == expected else None

    try:
        return wait_until(check, timeout=60, what=f"by_language == {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last by_language: {seen[-1] if seen else None}") from None


@pytest.mark.parametrize("code", ["bs", "hr", "sr", "hbs", "BS", "sh"])
def test_the_mention_filter_takes_every_code_of_the_macro_language(
    client: httpx.Client, tenant: Tenant, code: str
) -> None:
    bosnian = post_analysed(client, tenant, text=BOSNIAN)
    post_analysed(client, tenant, text=ENGLISH)
    assert bosnian["analysis"]["language"] == "hbs"

    assert _ids(client, tenant, language=code) == [bosnian["id"]]


def test_queries_and_the_filter_agree_on_the_language(client: httpx.Client, tenant: Tenant) -> None:
    by_list = create_query(client, tenant, "acme", languages=["bs"])
    by_field = create_query(client, tenant, "acme AND lang:hr")
    assert by_list["languages"] == ["hbs"]
    bosnian = post_analysed(client, tenant, text=BOSNIAN)
    post_analysed(client, tenant, text=ENGLISH)

    for query in (by_list, by_field):
        assert _ids(client, tenant, query_id=query["id"]) == [bosnian["id"]]
        assert _ids(client, tenant, query_id=query["id"], language="sr") == [bosnian["id"]]
        assert _ids(client, tenant, query_id=query["id"], language="en") == []


def test_a_label_to_bs_is_stored_as_the_macro_language_with_its_variant(
    client: httpx.Client, tenant: Tenant
) -> None:
    mention = post_analysed(client, tenant, text=ENGLISH)
    assert mention["analysis"]["language"] == "en"

    label = _label(client, tenant, mention["id"], language="bs")

    assert label["language"] == "bs"  # the labelled data keeps what the agent said
    analysis = client.get(f"/v1/mentions/{mention['id']}", headers=tenant.headers).json()["analysis"]
    assert (analysis["language"], analysis["language_variant"]) == ("hbs", "bs")
    for code in ("bs", "hr", "hbs"):
        assert _ids(client, tenant, language=code) == [mention["id"]]
    assert _ids(client, tenant, language="en") == []


def test_a_label_to_bs_leaves_one_language_bucket_in_the_metrics(
    client: httpx.Client, tenant: Tenant
) -> None:
    english = post_analysed(client, tenant, text=ENGLISH)
    bosnian = post_analysed(client, tenant, text=BOSNIAN)
    _by_language(client, tenant, {"en": 1, "hbs": 1})

    _label(client, tenant, english["id"], language="bs")
    _label(client, tenant, bosnian["id"], language="hr")

    _by_language(client, tenant, {"hbs": 2})


def test_a_language_every_mention_left_is_no_bucket(client: httpx.Client, tenant: Tenant) -> None:
    english = post_analysed(client, tenant, text=ENGLISH)
    _by_language(client, tenant, {"en": 1})

    _label(client, tenant, english["id"], language="de")

    _by_language(client, tenant, {"de": 1})
