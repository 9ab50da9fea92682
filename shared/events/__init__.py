"""Event layer: CloudEvents envelope, the catalog of event types, JetStream bus, outbox and inbox."""

from shared.events.catalog import CATALOG, STREAMS, EventSpec, spec_for, spec_of
from shared.events.envelope import CloudEvent, Event, new_event

__all__ = ["CATALOG", "STREAMS", "CloudEvent", "Event", "EventSpec", "new_event", "spec_for", "spec_of"]
