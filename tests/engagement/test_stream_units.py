"""The live inbox's frames, alone: what one delivery becomes on the wire, for its tenant and for others."""

from __future__ import annotations

import json
from typing import Any, cast

from services.engagement.stream import LiveStream, StreamHub


def stream_of(tenant_id: str) -> LiveStream:
    hub = StreamHub(max_connections=1, heartbeat_s=1.0)
    return LiveStream(hub, cast(Any, None), tenant_id=tenant_id)


def envelope(tenant_id: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "e1",
        "type": "engagement.conversation.opened",
        "tenantid": tenant_id,
        "data": data,
    }


def compact(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def test_an_event_of_the_tenant_is_one_frame_with_its_sequence_type_and_envelope() -> None:
    raw = compact(envelope("t1", conversation_id="c1"))
    frame = stream_of("t1").frame(raw, 42)
    assert frame == b"id: 42\nevent: engagement.conversation.opened\ndata: " + raw + b"\n\n"


def test_another_tenants_event_is_skipped_even_when_it_names_the_tenant_inside() -> None:
    stream = stream_of("t1")
    assert stream.frame(compact(envelope("t2")), 1) is None
    # The tenant's id inside the payload (a value that happens to look like it) decides nothing.
    tricky = compact(envelope("t2", note='"tenantid":"t1"', other={"tenantid": "t1"}))
    assert stream.frame(tricky, 2) is None
    assert stream.frame(b'{"tenantid":"t1"', 3) is None  # not JSON
    assert stream.frame(b'["tenantid":"t1"]', 4) is None


def test_an_event_spread_over_lines_is_sent_as_one_line() -> None:
    pretty = json.dumps(envelope("t1", conversation_id="c1"), indent=2).replace('": ', '":').encode()
    frame = stream_of("t1").frame(pretty, 7)
    assert frame is not None
    id_line, event_line, data_line, blank, end = frame.split(b"\n")
    assert (id_line, event_line, blank, end) == (b"id: 7", b"event: engagement.conversation.opened", b"", b"")
    assert json.loads(data_line.removeprefix(b"data: "))["data"] == {"conversation_id": "c1"}
