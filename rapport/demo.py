"""A demo tenant and a small multilingual batch, followed through every service."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

POSTS: list[tuple[str, str, str]] = [
    ("x", "@lena_k", "My order arrived broken and nobody answers. Terrible service!"),
    ("x", "@lena_k", "Still waiting for a refund for the broken order..."),
    ("meta", "ahmed.r", "متى يصل طلبي؟ انتظرت أسبوعين"),
    ("mastodon", "@sven@social.example", "Fantastiskt bra kundtjänst, tack så mycket!"),
    ("x", "@mehmet_y", "Siparişim hâlâ gelmedi, çok kötü bir hizmet."),
    ("meta", "amra.h", "Kako mogu promijeniti adresu dostave?"),
    ("x", "@jonas_b", "Wie lange dauert die Lieferung nach Berlin?"),
    ("reviews", "camille", "Produit excellent, je recommande !"),
    ("x", "@sam_t", "I want to buy the pro plan for my team, where can I see prices?"),
]


def _wait(fn: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    return None


def gateway_answers(gateway: str) -> bool:
    """Whether a Rapport gateway is up at this URL."""
    try:
        return httpx.get(f"{gateway}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_demo(gateway: str) -> int:
    """Run the demo against a running gateway; print what happened."""
    with httpx.Client(base_url=gateway, timeout=30) as client:
        suffix = uuid.uuid4().hex[:6]
        email, password = f"demo-{suffix}@example.com", secrets.token_urlsafe(12)
        r = client.post(
            "/v1/tenants",
            json={"name": f"Demo Brand {suffix}", "admin_email": email, "admin_password": password},
        )
        r.raise_for_status()
        tenant = r.json()["tenant"]
        token = client.post("/v1/auth/token", json={"email": email, "password": password}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        for n in (1, 2):
            agent_email, agent_password = f"agent{n}-{suffix}@example.com", secrets.token_urlsafe(12)
            client.post(
                "/v1/users",
                headers=auth,
                json={
                    "email": agent_email,
                    "password": agent_password,
                    "role": "agent",
                    "display_name": f"Agent {n}",
                },
            ).raise_for_status()
            # Only online agents get conversations: each agent says so once engagement knows them.
            agent_token = client.post(
                "/v1/auth/token", json={"email": agent_email, "password": agent_password}
            ).json()["access_token"]
            _wait(
                lambda t=agent_token: (
                    client.put(
                        "/v1/agents/me/presence",
                        headers={"Authorization": f"Bearer {t}"},
                        json={"status": "online"},
                    ).status_code
                    == 200
                )
            )
        print(f"\nDemo tenant '{tenant['name']}' ({tenant['id']})\n  login: {email} / {password}\n")

        now = datetime.now(UTC)
        ids = []
        for i, (platform, handle, text) in enumerate(POSTS):
            r = client.post(
                "/v1/mentions",
                headers=auth,
                json={
                    "platform": platform,
                    "external_id": f"demo-{suffix}-{i}",
                    "text": text,
                    "created_at": (now - timedelta(minutes=len(POSTS) - i)).isoformat(),
                    "author": {"handle": handle, "followers": 100 * (i + 1)},
                },
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
        print(f"Ingested {len(ids)} posts.\n")
        print(f"{'platform':<9} {'lang':<5} {'sentiment':<16} {'intent':<16} text")
        for mention_id in ids:
            # Analysis is asynchronous: wait for the worker to analyse each post.
            m = _wait(
                lambda mid=mention_id: (
                    (got := client.get(f"/v1/mentions/{mid}", headers=auth).json())["analysis"] and got
                )
            )
            if not m:
                print(f"  {mention_id}: still pending analysis")
                continue
            a = m["analysis"]
            sentiment = f"{a['sentiment']['label']} {a['sentiment']['score']:+.2f}"
            print(f"{m['platform']:<9} {a['language']:<5} {sentiment:<16} {a['intent']:<16} {m['text'][:50]}")

        profiles = _wait(
            lambda: (
                (p := client.get("/v1/profiles", headers=auth, params={"limit": 50}).json())["items"]
                and len(p["items"]) >= 8
                and p
            )
        )
        print(f"\nProfiles: {len(profiles['items']) if profiles else 0}")
        for p in (profiles or {"items": []})["items"]:
            handles = ", ".join(f"{h['platform']}:{h['handle']}" for h in p["handles"])
            print(
                f"  {p['id'][:8]}  {handles:<40} mentions={p['mention_count']} stage={p['lifecycle_stage']}"
            )

        convs = _wait(lambda: (c := client.get("/v1/conversations", headers=auth).json())["items"] and c)
        print(f"\nConversations: {len(convs['items']) if convs else 0}")
        for c in (convs or {"items": []})["items"]:
            print(
                f"  {c['id'][:8]}  priority={c['priority']:<7} assignee={str(c['assignee_id'])[:8]} "
                f"status={c['status']}"
            )

        time.sleep(1.0)
        card = client.get("/v1/metrics/scorecard", headers=auth).json()
        mentions = card["listening"]["mentions"]
        print(
            f"\nScorecard: mentions={mentions['total']} by sentiment={mentions['by_sentiment']} "
            f"conversations={card['care']['conversations']['opened']}\n"
        )
    return 0
