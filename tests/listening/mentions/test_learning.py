"""Per-tenant learning: a tenant's corrections improve the analysis of its own later posts, only its own.

A gaming brand's community praises with words the general analyser reads as complaints ("sick",
"insane", "filthy", "nasty"). Once agents have corrected a few such posts, new posts of the same kind in
other words are read as praise for that tenant, a real complaint of that tenant stays a complaint, and
another tenant's identical posts are read as before.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from rapport.stack import Stack
from tests.erasures import erase, subject_of
from tests.helpers import Tenant, add_user, unique
from tests.listening.helpers import post_analysed

# Corrected by the tenant's agents (the general analyser reads each as a negative complaint).
CORRECTED = [
    "This new season is sick, the maps are insane",
    "That patch is filthy, the new weapons go hard",
    "Ngl the new skins are sick af",
    "The new battle pass is nasty in the best way",
]
# Never corrected: the same kind of post in other words.
LATER = [
    "The new arena is sick, the graphics are insane",
    "The new champions are nasty, the skins are sick",
]
COMPLAINT = "The servers are down again, the new season is unplayable"


def _reading(mention: dict[str, Any]) -> tuple[str, str]:
    analysis = mention["analysis"]
    return analysis["sentiment"]["label"], analysis["intent"]


def test_corrections_teach_the_tenant_analysis_and_no_other(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = add_user(client, tenant, "agent")
    before = _reading(post_analysed(client, tenant, text=LATER[0]))
    assert before == ("negative", "complaint")  # what there is to learn

    for text in CORRECTED:
        mention = post_analysed(client, tenant, text=text)
        response = client.post(
            f"/v1/mentions/{mention['id']}/labels",
            json={"sentiment": "positive", "intent": "praise"},
            headers=agent.headers,
        )
        assert response.status_code == 201, response.text

    learnt = [post_analysed(client, tenant, text=text) for text in LATER]
    complaint = post_analysed(client, tenant, text=COMPLAINT)
    elsewhere = [post_analysed(client, other_tenant, text=text) for text in LATER]

    assert [_reading(m) for m in learnt] == [("positive", "praise")] * len(LATER)
    assert all(m["analysis"]["tier"] == "quality" for m in learnt)
    assert _reading(complaint) == ("negative", "complaint")
    assert [_reading(m) for m in elsewhere] == [("negative", "complaint")] * len(LATER)


def test_an_erased_persons_corrected_posts_teach_nothing_any_more(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    handle = unique("@gamer")
    for text in CORRECTED:
        author = {"handle": handle, "display_name": "A Gamer", "followers": 10}
        mention = post_analysed(client, tenant, text=text, author=author)
        response = client.post(
            f"/v1/mentions/{mention['id']}/labels",
            json={"sentiment": "positive", "intent": "praise"},
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.text
    assert _reading(post_analysed(client, tenant, text=LATER[0])) == ("positive", "praise")

    identity = {"kind": "handle", "platform": "x", "value": handle, "platform_user_id": None}
    answer = erase(stack, tenant.tenant_id, subject_of([str(uuid.uuid4())], identity), "listening")
    assert answer["counts"]["mention_labels"] == len(CORRECTED)

    # The corrections went with the person's posts: their embeddings no longer vote.
    assert _reading(post_analysed(client, tenant, text=LATER[1])) == ("negative", "complaint")
