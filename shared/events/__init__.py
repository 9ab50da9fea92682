"""Event layer: CloudEvents envelope, the catalog of event types, JetStream bus, outbox and inbox."""

from shared.events.catalog import CATALOG, STREAMS, EventSpec, spec_for
from shared.events.envelope import CloudEvent, new_event

__all__ = ["CATALOG", "STREAMS", "CloudEvent", "EventSpec", "new_event", "spec_for"]
