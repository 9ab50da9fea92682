"""Privacy requests: a person's export and erasure, by profile id or identifier, answered by every service.

The other services answer through their public interface, the events `privacy.export.part` and
`privacy.erasure.completed`, published here on the bus as they would publish them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from rapport.stack import Stack
from services.profiles.logic.privacy_requests import one_month_after
from shared import consent
from shared.events.bus import Bus
from shared.events.catalog import STREAMS
from shared.events.contracts import ExportRequested, PrivacySubject
from shared.events.envelope import new_event
from tests.engagement.receiver import Receiver, receiver
from tests.erasures import kept_messages
from tests.helpers import (
    Tenant,
    add_user,
    assert_problem,
    publish_event,
    unique,
    wait_until,
)
from tests.profiles.helpers import ingest, wait_for_profile
from tests.profiles.partners import order

OTHERS = ("listening", "engagement", "metrics")


@pytest.fixture
def partner() -> Iterator[Receiver]:
    """A partner's webhook endpoint."""
    with receiver() as endpoint:
        yield endpoint


async def stream_events(nats_url: str) -> list[dict[str, Any]]:
    """Every event left in every stream (dead letters included)."""
    bus = Bus(nats_url, name="rapport-tests")
    await bus.connect()
    try:
        return [
            json.loads(msg.data or b"") for stream in STREAMS async for msg in kept_messages(bus.js, stream)
        ]
    finally:
        await bus.close()


def _person(client: httpx.Client, tenant: Tenant) -> tuple[str, str, str]:
    """A person with a mention, an e-mail and a note: (profile id, handle, mention id)."""
    handle = unique("@priv")
    mention_id = ingest(client, tenant, author={"handle": handle, "display_name": "Pat Private"})
    profile_id: str = wait_for_profile(client, tenant, handle)["id"]
    email = f"{handle.lstrip('@')}@example.org"
    attached = client.post(
        f"/v1/profiles/{profile_id}/identifiers",
        json={"kind": "email", "value": email, "evidence": "verified"},
        headers=tenant.headers,
    )
    assert attached.status_code in (200, 201), attached.text
    note = client.post(
        f"/v1/profiles/{profile_id}/notes", json={"body": "Asked about refund."}, headers=tenant.headers
    )
    assert note.status_code == 201, note.text
    return profile_id, handle, mention_id


def _answer(nats_url: str, tenant: Tenant, payload: Any) -> None:
    publish_event(nats_url, new_event(payload, source=payload.service, tenant_id=tenant.tenant_id))


def _service(request: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in request["services"] if s["service"] == name)
    return found


def test_an_export_by_identifier_gathers_every_services_part_into_one_bundle(
    client: httpx.Client, stack_profiles: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    profile_id, handle, mention_id = _person(client, tenant)
    email = f"{handle.lstrip('@')}@example.org"

    created = stack_profiles.post(
        "/v1/privacy/exports",
        json={"identifier": {"kind": "email", "value": email.upper()}},
        headers=tenant.headers,
    )
    assert created.status_code == 202, created.text
    export = created.json()
    assert export["status"] == "open" and export["profile_ids"] == [profile_id]
    assert export["requested_by"] == tenant.user_id
    created_at = datetime.fromisoformat(export["created_at"])
    assert timedelta(days=28) <= datetime.fromisoformat(export["due_at"]) - created_at <= timedelta(days=31)
    assert export["overdue"] is False
    path = f"/v1/privacy/exports/{export['id']}"

    # Every service answers by itself (listening, profiles, engagement, metrics).
    done = wait_until(
        lambda: (b := stack_profiles.get(path, headers=tenant.headers).json())["status"] == "completed" and b,
        what="the export to complete",
    )
    assert all(s["answered"] for s in done["services"])
    download = stack_profiles.get(f"{path}/download", headers=tenant.headers)
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    bundle = download.json()
    assert bundle["request_id"] == export["id"] and bundle["profile_ids"] == [profile_id]
    assert sorted(bundle["services"]) == ["engagement", "listening", "metrics", "profiles"]
    assert [m["id"] for m in bundle["services"]["listening"]["mentions"]] == [mention_id]
    held = bundle["services"]["profiles"]
    assert [p["id"] for p in held["profiles"]] == [profile_id]
    assert {i["value"] for i in held["identifiers"]} >= {handle, email}
    assert [i["ref_id"] for i in held["timeline"]] == [mention_id]
    assert [n["body"] for n in held["notes"]] == ["Asked about refund."]
    assert held["orders"] == [] and held["segment_memberships"] == []

    listed = stack_profiles.get("/v1/privacy/exports", headers=tenant.headers, params={"status": "completed"})
    assert export["id"] in [r["id"] for r in listed.json()["items"]]

    # Its events (identifiers, every part) then leave the privacy stream.
    def cleared() -> bool:
        events = asyncio.run(stream_events(stack.nats_url))
        return not [e for e in events if export["id"] in json.dumps(e)]

    wait_until(cleared, what="the export's events to leave the privacy stream")
    # The request and one part from each of the four services.
    assert stack_profiles.get(path, headers=tenant.headers).json()["scrubbed_messages"] >= 5

    # The same request arriving again (another event, the same request id) is not answered again.
    publish_event(
        stack.nats_url,
        new_event(
            ExportRequested(
                request_id=export["id"],
                subject=PrivacySubject(profile_ids=[profile_id]),
                requested_at=datetime.now(UTC),
            ),
            source="profiles",
            tenant_id=tenant.tenant_id,
        ),
    )
    # A later request, answered after that one (one consumer, in order).
    later = stack_profiles.post(
        "/v1/privacy/exports", json={"profile_id": profile_id}, headers=tenant.headers
    )
    wait_until(
        lambda: _service(
            stack_profiles.get(f"/v1/privacy/exports/{later.json()['id']}", headers=tenant.headers).json(),
            "profiles",
        )["answered"],
        what="profiles' part of the later export",
    )
    parts = [
        e
        for e in asyncio.run(stream_events(stack.nats_url))
        if e["type"] == "privacy.export.part" and e["data"]["request_id"] == export["id"]
    ]
    assert parts == []


def test_an_erasure_removes_what_profiles_held_and_is_certified_once_every_service_answered(
    client: httpx.Client, stack_profiles: httpx.Client, stack: Stack, tenant: Tenant, partner: Receiver
) -> None:
    profile_id, handle, mention_id = _person(client, tenant)
    # Someone else of the tenant, who stays (another text: the same one would join the person's post's
    # group of near-duplicates, whose id its event then carries).
    other_handle = unique("@stays")
    ingest(client, tenant, author={"handle": other_handle}, text=f"Lovely service today {other_handle}")
    other = wait_for_profile(client, tenant, other_handle)
    ordered = client.post(
        f"/v1/profiles/{profile_id}/orders", json=order(amount="12.50"), headers=tenant.headers
    )
    assert ordered.status_code in (200, 201), ordered.text
    segment = client.post(
        "/v1/segments", json={"name": "talkers", "rule": "mention_count >= 1"}, headers=tenant.headers
    ).json()
    members = client.get(f"/v1/segments/{segment['id']}/members", headers=tenant.headers).json()["items"]
    assert {profile_id, other["id"]} <= {m["id"] for m in members}
    granted = client.put(
        f"/v1/profiles/{profile_id}/consents/marketing", json={"status": "granted"}, headers=tenant.headers
    )
    assert granted.status_code == 200, granted.text
    projection = redis.Redis.from_url(stack.redis_url)
    assert projection.exists(consent.person_key(tenant.tenant_id, profile_id))

    # A partner subscribed to erasures (engagement's webhooks).
    with httpx.Client(base_url=stack.url("engagement"), timeout=30) as engagement:
        subscribed = engagement.post(
            "/v1/webhooks/subscriptions",
            headers=tenant.headers,
            json={"url": partner.url, "event_types": ["privacy.subject.erased"], "purpose": "engagement"},
        )
    assert subscribed.status_code == 201, subscribed.text
    created = stack_profiles.post(
        "/v1/privacy/erasures",
        json={"identifier": {"kind": "handle", "value": handle.upper(), "platform": "x"}},
        headers=tenant.headers,
    )
    assert created.status_code == 202, created.text
    erasure = created.json()
    assert erasure["profile_ids"] == [profile_id]
    # A second erasure of the same person while one is open is that one.
    again = stack_profiles.post(
        "/v1/privacy/erasures", json={"profile_id": profile_id}, headers=tenant.headers
    )
    assert again.status_code == 200 and again.json()["id"] == erasure["id"]
    path = f"/v1/privacy/erasures/{erasure['id']}"

    def profiles_answer() -> dict[str, Any] | None:
        answer = _service(stack_profiles.get(path, headers=tenant.headers).json(), "profiles")
        return answer if answer["answered"] else None

    counts = wait_until(profiles_answer, what="profiles' erasure")["counts"]
    # The timeline: the mention and the order.
    assert counts["profiles"] == 1 and counts["timeline"] == 2 and counts["notes"] == 1
    assert counts["identifiers"] >= 2 and counts["orders"] == 1 and counts["segment_memberships"] == 1
    # The consent ledger: the grant's history row and the current state.
    assert counts["consents"] == 1 and counts["consent_state"] == 1
    # profiles' events naming the person that still sat in its outbox went too.
    assert counts["outbox_events"] >= 1
    members = client.get(f"/v1/segments/{segment['id']}/members", headers=tenant.headers).json()["items"]
    assert other["id"] in {m["id"] for m in members} and profile_id not in {m["id"] for m in members}
    # Nothing of the person is left in profiles' API; the other person is untouched.
    assert_problem(client.get(f"/v1/profiles/{profile_id}", headers=tenant.headers), 404)
    assert client.get("/v1/profiles", headers=tenant.headers, params={"handle": handle}).json()["items"] == []
    assert client.get(f"/v1/profiles/{other['id']}", headers=tenant.headers).status_code == 200
    gone = stack_profiles.post("/v1/privacy/exports", json={"profile_id": profile_id}, headers=tenant.headers)
    assert_problem(gone, 404)

    # listening, engagement and metrics answer by themselves; the certificate waits for all four.
    done = wait_until(
        lambda: (b := stack_profiles.get(path, headers=tenant.headers).json())["status"] == "completed" and b,
        what="the erasure to complete",
    )
    cert = done["certificate"]
    assert cert["request_id"] == erasure["id"] and cert["subject_refs"] == [profile_id]
    assert sorted(s["service"] for s in cert["services"]) == [
        "engagement",
        "listening",
        "metrics",
        "profiles",
    ]
    issued = datetime.fromisoformat(cert["issued_at"])
    assert all(datetime.fromisoformat(s["completed_at"]) <= issued for s in cert["services"])
    # listening anonymised the person's post.
    listening = next(s for s in cert["services"] if s["service"] == "listening")
    assert listening["counts"]["mentions_anonymised"] == 1
    digest = cert.pop("sha256")
    assert (
        hashlib.sha256(
            json.dumps(cert, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        == digest
    )
    # The mention's event (handle, text) and the request's own events were scrubbed from the streams.
    assert (
        cert["stream_messages_deleted"] >= 3 and done["scrubbed_messages"] == cert["stream_messages_deleted"]
    )
    assert done["named_by"] == {"identifier": {"kind": "handle"}}
    # Their consent projection went with the certificate.
    assert not projection.exists(consent.person_key(tenant.tenant_id, profile_id))

    def names_person(event: dict[str, Any]) -> bool:
        text = json.dumps(event, ensure_ascii=False).casefold()
        return any(n.casefold() in text for n in (handle, profile_id, mention_id, erasure["id"]))

    events = asyncio.run(stream_events(stack.nats_url))
    # Kept on purpose, naming only the random profile id: the notice to partners, and the records of
    # this test's own reads of the erased profile made while the scrub ran (the audit log keeps them).
    kept = ("privacy.subject.erased", "privacy.audit.recorded")
    left = [e for e in events if names_person(e) and e["type"] not in kept]
    assert left == []
    # The other person's mention is still there.
    assert [e for e in events if e["type"] == "listening.mention.received" and other_handle in json.dumps(e)]
    # Partners are told, with the opaque profile id only.
    erased = next(
        e for e in events if e["type"] == "privacy.subject.erased" and e["tenantid"] == tenant.tenant_id
    )
    assert erased["data"]["subject_ref"] == profile_id
    assert set(erased["data"]) == {"subject_ref", "erased_at"}
    got = wait_until(lambda: partner.of_event(erased["id"]), what="the partner's delivery")
    assert json.loads(got[0].body)["data"] == erased["data"]
    listed = stack_profiles.get(
        "/v1/privacy/erasures", headers=tenant.headers, params={"status": "completed"}
    )
    assert [r["id"] for r in listed.json()["items"]] == [erasure["id"]]
    assert (
        stack_profiles.get("/v1/privacy/erasures", headers=tenant.headers, params={"status": "open"}).json()[
            "items"
        ]
        == []
    )


def test_concurrent_erasures_of_one_person_open_one_request(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@twice")
    ingest(client, tenant, author={"handle": handle})
    profile_id = wait_for_profile(client, tenant, handle)["id"]
    asks = 8
    ready = threading.Barrier(asks)

    def ask(_: int) -> httpx.Response:
        ready.wait()
        return client.post("/v1/privacy/erasures", json={"profile_id": profile_id}, headers=tenant.headers)

    with ThreadPoolExecutor(max_workers=asks) as pool:
        answers = list(pool.map(ask, range(asks)))

    opened = [a for a in answers if a.status_code == 202]
    assert len(opened) == 1, [a.text for a in answers]
    request_id = opened[0].json()["id"]
    for answer in answers:
        # The others answer the open request; one read after profiles had already erased the person
        # finds nobody to erase (404), which opens nothing either.
        assert answer.status_code in (200, 202, 404), answer.text
        if answer.status_code == 200:
            assert answer.json()["id"] == request_id
    listed = client.get("/v1/privacy/erasures", headers=tenant.headers).json()["items"]
    assert [r["id"] for r in listed] == [request_id]


def test_requests_name_someone_the_tenant_knows_and_only_admins_make_them(
    client: httpx.Client,
    accounts: httpx.Client,
    stack_profiles: httpx.Client,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    profile_id, handle, _ = _person(client, tenant)
    for body in (
        {"profile_id": "nobody"},
        {"identifier": {"kind": "email", "value": "nobody@example.org"}},
        {"identifier": {"kind": "handle", "value": handle, "platform": "instagram"}},
    ):
        assert_problem(stack_profiles.post("/v1/privacy/erasures", json=body, headers=tenant.headers), 404)
    # Another tenant's person is nobody here.
    assert_problem(
        stack_profiles.post(
            "/v1/privacy/exports", json={"profile_id": profile_id}, headers=other_tenant.headers
        ),
        404,
    )
    bad: list[dict[str, Any]] = [
        {},
        {"profile_id": profile_id, "identifier": {"kind": "email", "value": "a@example.org"}},
        {"identifier": {"kind": "phone", "value": "not a phone"}},
        {"identifier": {"kind": "fax", "value": "1"}},
    ]
    for body in bad:
        assert_problem(stack_profiles.post("/v1/privacy/exports", json=body, headers=tenant.headers), 422)
    agent = add_user(accounts, tenant, "agent")
    assert_problem(
        stack_profiles.post("/v1/privacy/exports", json={"profile_id": profile_id}, headers=agent.headers),
        403,
    )
    assert_problem(stack_profiles.get("/v1/privacy/erasures", headers=agent.headers), 403)
    # Nothing was recorded by any of that.
    assert stack_profiles.get("/v1/privacy/exports", headers=tenant.headers).json()["items"] == []
    assert stack_profiles.get("/v1/privacy/erasures", headers=tenant.headers).json()["items"] == []
    assert_problem(stack_profiles.get("/v1/privacy/erasures/nope", headers=tenant.headers), 404)
    # Paging, newest first.
    ids = [
        stack_profiles.post(
            "/v1/privacy/exports", json={"profile_id": profile_id}, headers=tenant.headers
        ).json()["id"]
        for _ in range(3)
    ]
    page1 = stack_profiles.get("/v1/privacy/exports", headers=tenant.headers, params={"limit": 2}).json()
    page2 = stack_profiles.get(
        "/v1/privacy/exports", headers=tenant.headers, params={"limit": 2, "cursor": page1["next_cursor"]}
    ).json()
    assert [r["id"] for r in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_cursor"] is None


def test_a_request_is_due_a_calendar_month_later() -> None:
    def at(y: int, m: int, d: int) -> datetime:
        return datetime(y, m, d, 9, 30, tzinfo=UTC)

    assert one_month_after(at(2026, 1, 15)) == at(2026, 2, 15)
    assert one_month_after(at(2026, 1, 31)) == at(2026, 2, 28)
    assert one_month_after(at(2028, 1, 31)) == at(2028, 2, 29)
    assert one_month_after(at(2026, 12, 31)) == at(2027, 1, 31)
