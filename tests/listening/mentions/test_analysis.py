# ruff: noqa: RUF001  (posts in Turkish and Serbian Cyrillic script are the point)
"""The analysis pipeline read back through the API: pending at first, then the quality tier's analysis.

The posts were written for this check set by the team; each asserts only what a reader of that language
would agree on. Per-language accuracy over the full labelled set is `python -m
services.listening.analysis.evaluate`; these check the wiring end to end.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Tenant
from tests.listening.helpers import analysed, post_analysed, post_mention

CASES = [
    # text, language, intent, sentiment label
    ("Where can I buy the new headphones? Is there a store in London?", "en", "purchase_intent", None),
    ("My order never arrived and support is terrible.", "en", "complaint", "negative"),
    ("How do I reset my password?", "en", "question", "neutral"),
    ("Thank you so much, the team was amazing!", "en", "praise", "positive"),
    ("Just had lunch with the team at the office.", "en", "other", "neutral"),
    ("أريد شراء هذا الهاتف، كم سعره؟", "ar", "purchase_intent", None),
    ("الخدمة سيئة جدا والمنتج لا يعمل", "ar", "complaint", "negative"),
    ("هل يوجد فرع في دبي؟", "ar", "question", None),
    ("شكرا لكم، المنتج رائع وأنا سعيد جدا", "ar", "praise", "positive"),
    ("Hur mycket kostar abonnemanget och kan jag köpa det i butiken?", "sv", "purchase_intent", None),
    ("Leveransen var sämst, paketet är trasigt och ingen svarar.", "sv", "complaint", "negative"),
    ("Tack för hjälpen, ni är bäst!", "sv", "praise", "positive"),
    ("Bu telefonu satın almak istiyorum, fiyatı ne kadar?", "tr", "purchase_intent", None),
    ("Siparişim hala gelmedi, rezalet bir hizmet!", "tr", "complaint", None),
    ("Kargo ne zaman gelir?", "tr", "question", None),
    ("Harika bir ürün, çok teşekkürler!", "tr", "praise", "positive"),
    ("Gdje mogu kupiti ovaj telefon i kolika je cijena?", "hbs", "purchase_intent", None),
    ("Usluga je užasna, telefon ne radi već tri dana.", "hbs", "complaint", "negative"),
    ("Da li radite subotom?", "hbs", "question", None),
    ("Hvala vam, sve je odlično i brzo je stiglo!", "hbs", "praise", "positive"),
    ("Хвала, све је одлично!", "hbs", "praise", "positive"),
    ("Wo kann ich das neue Modell kaufen und was kostet es?", "de", "purchase_intent", None),
    ("Der Kundenservice ist eine Katastrophe, mein Paket ist kaputt.", "de", "complaint", "negative"),
    ("Wann öffnet der Laden am Samstag?", "de", "question", None),
    ("Vielen Dank, das ist wirklich super!", "de", "praise", "positive"),
]


@pytest.mark.parametrize(("text", "language", "intent", "sentiment"), CASES, ids=[c[0][:30] for c in CASES])
def test_analysis_of_post(
    client: httpx.Client, tenant: Tenant, text: str, language: str, intent: str, sentiment: str | None
) -> None:
    analysis = post_analysed(client, tenant, text=text)["analysis"]

    assert analysis["language"] == language
    assert analysis["intent"] == intent
    if sentiment is not None:
        assert analysis["sentiment"]["label"] == sentiment
    # A quiet service analyses with the quality tier, and says so with its confidences.
    assert analysis["tier"] == "quality"
    assert 0 <= analysis["sentiment"]["confidence"] <= 1
    assert 0 <= analysis["intent_confidence"] <= 1
    assert 0 <= analysis["language_confidence"] <= 1


def test_serbian_cyrillic_is_hbs_with_a_variant_hint(client: httpx.Client, tenant: Tenant) -> None:
    analysis = post_analysed(client, tenant, text="Хвала, све је одлично!")["analysis"]

    assert analysis["language"] == "hbs"
    assert analysis["language_variant"] == "sr"


@pytest.mark.parametrize("text", ["👍👍", "12345 !!!"])
def test_language_is_und_when_unsure(client: httpx.Client, tenant: Tenant, text: str) -> None:
    analysis = post_analysed(client, tenant, text=text)["analysis"]

    assert analysis["language"] == "und"
    assert analysis["low_confidence"] is True


def test_mention_is_pending_then_analysed(client: httpx.Client, tenant: Tenant) -> None:
    _, mention_id = post_mention(client, tenant, text="My order never arrived and support is terrible.")

    first = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
    mention = analysed(client, tenant, mention_id)

    # Either the worker had not got to it yet, or it is already done: never a half-written analysis.
    assert (first["analysis_status"], first["analysis"]) in {("pending", None), ("analysing", None)} or (
        first["analysis_status"] == "analysed" and first["analysis"] is not None
    )
    assert mention["analysis_status"] == "analysed"
    assert mention["analysis"]["intent"] == "complaint"
