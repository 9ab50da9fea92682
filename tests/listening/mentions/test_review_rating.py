"""A review's star rating is part of its sentiment, through the import and the ingest API."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.helpers import Tenant, unique, wait_until
from tests.listening.helpers import post_analysed


def _import_reviews(client: httpx.Client, tenant: Tenant, rows: list[tuple[int, str]]) -> list[str]:
    """Import reviews (stars, text) as a review site's CSV export; return their external ids."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "review_id", "rating", "text", "author", "date"])
    ids = [unique("r") for _ in rows]
    for review_id, (stars, text) in zip(ids, rows, strict=True):
        writer.writerow(["shop", review_id, stars, text, "ana", "2026-03-01"])
    response = client.post(
        "/v1/mentions/import",
        content=buf.getvalue().encode(),
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(rows), response.text
    return [f"shop:{i}" for i in ids]


def _analysed_reviews(client: httpx.Client, tenant: Tenant, count: int) -> dict[str, dict[str, Any]]:
    def read() -> dict[str, dict[str, Any]] | None:
        response = client.get("/v1/mentions", headers=tenant.headers, params={"platform": "reviews"})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        done = len(items) == count and all(m["analysis"] is not None for m in items)
        return {m["external_id"]: m for m in items} if done else None

    return wait_until(read, timeout=30, what=f"{count} analysed reviews")


def test_imported_reviews_take_their_stars_into_the_sentiment(client: httpx.Client, tenant: Tenant) -> None:
    rows = [
        (1, "Product ok."),
        (3, "Product ok."),
        (5, "Product ok."),
        (5, "Terrible kettle, it broke after one day. Never again!"),
    ]
    one, three, five, mismatch = _import_reviews(client, tenant, rows)
    reviews = _analysed_reviews(client, tenant, len(rows))

    def sentiment(external_id: str) -> str:
        label: str = reviews[external_id]["analysis"]["sentiment"]["label"]
        return label

    assert sentiment(one) == "negative"
    assert reviews[one]["analysis"]["intent"] != "praise"
    assert sentiment(three) == "neutral"
    assert sentiment(five) == "positive"
    # A clear text against its stars keeps its own label, flagged for a person to look at.
    assert sentiment(mismatch) == "negative"
    assert reviews[mismatch]["analysis"]["low_confidence"] is True


def test_a_rated_post_through_the_ingest_api(client: httpx.Client, tenant: Tenant) -> None:
    rated = post_analysed(client, tenant, text="Product ok.", platform="reviews", rating=1)
    assert rated["rating"] == 1
    assert rated["analysis"]["sentiment"]["label"] == "negative"
    assert rated["analysis"]["sentiment"]["score"] < 0
