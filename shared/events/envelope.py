"""CloudEvents 1.0 structured-mode envelope with the `tenantid` extension, untyped or typed by its payload."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import spec_of
from shared.events.contracts import Contract
from shared.ids import uuid4_str

P = TypeVar("P", bound=Contract)


class Envelope(BaseModel):
    """The CloudEvents attributes every event carries; `data` is added by the two kinds below."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: str = Field(min_length=1)

    def to_bytes(self) -> bytes:
        """The structured-mode JSON body."""
        return self.model_dump_json(exclude_none=True).encode()


class CloudEvent(Envelope):
    """One fact that happened in one tenant, as it is staged and travels on NATS (payload as JSON)."""

    data: dict[str, Any]

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        """Parse and validate a structured-mode JSON body (no field is filled in silently)."""
        return cls.model_validate_json(raw)


class Event(Envelope, Generic[P]):
    """A consumed event whose payload is parsed into its contract: what a subscription's handler receives."""

    data: P


@cache
def event_model(payload: type[P]) -> type[Event[P]]:
    """`Event[payload]`, built once: envelope and payload are then parsed in one pass over the bytes."""
    return Event[payload]  # type: ignore[valid-type]


def new_event(
    payload: Contract,
    *,
    source: str,
    tenant_id: str,
    subject: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """A new event of the type the catalog gives the payload's class."""
    return CloudEvent(
        id=event_id or uuid4_str(),
        source=f"/rapport/{source}",
        type=spec_of(type(payload)).name,
        time=datetime.now(UTC),
        subject=subject,
        tenantid=tenant_id,
        data=payload.model_dump(mode="json"),
    )
