"""The stream scrub of an erasure, the streams' bounded age, and how exports are cut into parts."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.events.bus import STREAM_MAX_AGE_S, Bus
from shared.events.catalog import STREAMS
from shared.events.contracts import PrivacySubject
from shared.privacy import PART_BUDGET_BYTES, chunk_export, needles, scrub_streams
from tests.erasures import kept_messages


def _body(tenant: str, type_: str, data: dict[str, Any], *, ascii_only: bool = False) -> bytes:
    event = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "/rapport/tests",
        "type": type_,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "data": data,
    }
    return json.dumps(event, ensure_ascii=ascii_only, separators=(",", ":")).encode()


async def _bodies(bus: Bus, stream: str) -> list[bytes]:
    """Every message still in the stream."""
    found: list[bytes] = []
    async for msg in kept_messages(bus.js, stream):
        assert msg.data is not None
        found.append(msg.data)
    return found


def test_the_scrub_deletes_the_persons_messages_from_every_stream_and_keeps_the_others(nats_url: str) -> None:
    async def scenario() -> None:
        bus = Bus(nats_url, name="scrub-test")
        await bus.connect()
        try:
            tenant, other_tenant = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
            profile_id, mention_id, request_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
            subject = PrivacySubject(
                profile_ids=[profile_id],
                identities=[
                    {
                        "kind": "handle",
                        "platform": "x",
                        "value": '@Zoë_Quote"s',
                        "platform_user_id": "u-777001",
                    },
                    {"kind": "email", "platform": None, "value": "zoe@example.org"},
                ],
            )
            person = [
                # The handle as the post wrote it (another case), with JSON escaping its quote.
                (
                    "listening.mention.received",
                    _body(
                        tenant,
                        "listening.mention.received",
                        {"author": {"handle": '@ZOË_QUOTE"S'}, "text": "hi"},
                    ),
                ),
                # Escaped to ASCII by another writer.
                (
                    "listening.mention.edited",
                    _body(tenant, "listening.mention.edited", {"author": '@Zoë_Quote"s'}, ascii_only=True),
                ),
                (
                    "profiles.profile.updated",
                    _body(tenant, "profiles.profile.updated", {"profile_id": profile_id}),
                ),
                (
                    "engagement.message.created",
                    _body(tenant, "engagement.message.created", {"from": "u-777001"}),
                ),
                (
                    "engagement.survey.answered",
                    _body(tenant, "engagement.survey.answered", {"mention_id": mention_id}),
                ),
                (
                    "deadletter.profiles-mentions",
                    _body(tenant, "listening.mention.received", {"email": "zoe@example.org"}),
                ),
                (
                    "privacy.erasure.completed",
                    _body(tenant, "privacy.erasure.completed", {"request_id": request_id}),
                ),
            ]
            others = [
                (
                    "listening.mention.received",
                    _body(tenant, "listening.mention.received", {"author": {"handle": "@somebody"}}),
                ),
                # The same handle in another tenant is another person.
                (
                    "listening.mention.received",
                    _body(other_tenant, "listening.mention.received", {"author": {"handle": '@Zoë_Quote"s'}}),
                ),
                (
                    "privacy.erasure.completed",
                    _body(tenant, "privacy.erasure.completed", {"request_id": str(uuid.uuid4())}),
                ),
                (
                    "deadletter.profiles-mentions",
                    _body(tenant, "profiles.profile.updated", {"profile_id": str(uuid.uuid4())}),
                ),
            ]
            for subject_, body in [*person, *others]:
                await bus.publish_raw(subject=subject_, body=body, msg_id=uuid.uuid4().hex)

            deleted = await scrub_streams(
                bus,
                tenant_id=tenant,
                needles_=needles(subject, [mention_id]),
                also={"PRIVACY": [request_id]},
            )

            assert deleted == len(person)
            remaining = [body for stream in STREAMS for body in await _bodies(bus, stream)]
            for _, body in person:
                assert body not in remaining
            for _, body in others:
                assert body in remaining
            # Run again: nothing more to delete (an interrupted scrub is simply repeated).
            assert await scrub_streams(bus, tenant_id=tenant, needles_=needles(subject, [mention_id])) == 0
            # The scrub's own consumers are gone.
            for stream in STREAMS:
                names = [c.name for c in await bus.js.consumers_info(stream)]
                assert not [n for n in names if n.startswith("privacy-scrub-")], names
        finally:
            await bus.close()

    asyncio.run(scenario())


def test_streams_keep_events_for_a_bounded_age(nats_url: str) -> None:
    async def scenario() -> None:
        bus = Bus(nats_url, name="age-test", max_age_s=3600)
        await bus.connect()
        try:
            for stream in STREAMS:
                assert (await bus.js.stream_info(stream)).config.max_age == 3600
        finally:
            await bus.close()
        bus = Bus(nats_url, name="age-test")
        await bus.connect()
        try:
            for stream in STREAMS:
                assert (await bus.js.stream_info(stream)).config.max_age == STREAM_MAX_AGE_S
        finally:
            await bus.close()

    asyncio.run(scenario())


def test_an_export_is_cut_into_parts_that_stay_under_the_budget() -> None:
    records = [{"id": i, "text": "x" * 1000} for i in range(700)]
    parts = chunk_export({"mentions": records, "authors": []})
    assert len(parts) > 1
    assert all(len(json.dumps(part)) < PART_BUDGET_BYTES + 2000 for part in parts)
    # Every record arrives once, in order; an empty kind is still listed.
    assert [r for part in parts for r in part.get("mentions", [])] == records
    assert parts[0]["authors"] == []
    assert chunk_export({}) == [{}]
