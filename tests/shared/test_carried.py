"""A set-based handler's onward events keep their causes' traces: `carried` by the consumed event's id
as well as by its subject, so that two events of one batch with the same subject (a profile's mentions)
each pass on their own trace."""

from __future__ import annotations

from shared.events.contracts import ProfileSnapshot, ProfileUpdated
from shared.events.envelope import new_event
from shared.telemetry import ConsumeSpans, carried

UPDATED = ProfileUpdated(profile_id="p-1", changed=["tags"], profile=ProfileSnapshot(profile_id="p-1"))


def traceparent(n: int) -> str:
    return f"00-{n:032x}-{n:016x}-01"


def test_events_sharing_a_subject_each_carry_their_own_trace() -> None:
    events = [new_event(UPDATED, source="profiles", tenant_id="t", subject="p-1") for _ in range(2)]
    spans = ConsumeSpans({e.id: {"traceparent": traceparent(i + 1)} for i, e in enumerate(events)})
    with spans.together(events):
        assert [(carried(e.id) or {}).get("traceparent") for e in events] == [traceparent(1), traceparent(2)]
        assert carried("p-1") is not None  # by subject: one of them
        assert carried("no-such-event") is None
    assert carried(events[0].id) is None  # outside the batch
