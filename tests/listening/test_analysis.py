# ruff: noqa: RUF001  (posts in Turkish and Serbian Cyrillic script are the point)
"""The rules-tier analysis of posts in the languages we serve, read back through the API.

The posts were written for this check set by the team (no labelled ar/BCS/sv/tr data exists offline);
each asserts only what a reader of that language would agree on.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Tenant
from tests.listening.conftest import post_mention

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
    ("När öppnar butiken i Malmö?", "sv", "question", None),
    ("Tack för hjälpen, ni är bäst!", "sv", "praise", "positive"),
    ("Bu telefonu satın almak istiyorum, fiyatı ne kadar?", "tr", "purchase_intent", None),
    ("Siparişim hala gelmedi, rezalet bir hizmet!", "tr", "complaint", "negative"),
    ("Kargo ne zaman gelir?", "tr", "question", None),
    ("Harika bir ürün, çok teşekkürler!", "tr", "praise", "positive"),
    ("Gdje mogu kupiti ovaj telefon i kolika je cijena?", "hbs", "purchase_intent", None),
    ("Usluga je užasna, telefon ne radi već tri dana.", "hbs", "complaint", "negative"),
    ("Da li radite subotom?", "hbs", "question", None),
    ("Hvala vam, sve je odlično i brzo je stiglo!", "hbs", "praise", "positive"),
    ("Хвала, све је одлично!", "sr", "praise", "positive"),
    ("Wo kann ich das neue Modell kaufen und was kostet es?", "de", "purchase_intent", None),
    ("Der Kundenservice ist eine Katastrophe, mein Paket ist kaputt.", "de", "complaint", "negative"),
    ("Wann öffnet der Laden am Samstag?", "de", "question", None),
    ("Vielen Dank, das ist wirklich super!", "de", "praise", "positive"),
]


@pytest.mark.parametrize(("text", "language", "intent", "sentiment"), CASES, ids=[c[0][:30] for c in CASES])
def test_analysis_of_post(
    client: httpx.Client, tenant: Tenant, text: str, language: str, intent: str, sentiment: str | None
) -> None:
    _, mention_id = post_mention(client, tenant, text=text)

    analysis = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()["analysis"]

    assert analysis["language"] == language
    assert analysis["intent"] == intent
    if sentiment is not None:
        assert analysis["sentiment"]["label"] == sentiment
    assert analysis["tier"] == "rules"


@pytest.mark.parametrize("text", ["👍👍", "12345 !!!", "Спасибо, я очень рад!"])
def test_language_is_und_when_unsure(client: httpx.Client, tenant: Tenant, text: str) -> None:
    _, mention_id = post_mention(client, tenant, text=text)

    analysis = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()["analysis"]

    assert analysis["language"] == "und"


def test_negation_flips_sentiment_only_within_its_clause(client: httpx.Client, tenant: Tenant) -> None:
    _, not_good = post_mention(client, tenant, text="The app is not good")
    _, clause = post_mention(client, tenant, text="Support is not answering. Terrible!")

    def label(mention_id: str) -> str:
        response = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers)
        return str(response.json()["analysis"]["sentiment"]["label"])

    assert label(not_good) == "negative"
    assert label(clause) == "negative"
