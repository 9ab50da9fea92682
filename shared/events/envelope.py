"""CloudEvents 1.0 structured-mode envelope with the `tenantid` extension."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """One fact that happened in one tenant, as it travels on NATS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: str = Field(min_length=1)
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        """The structured-mode JSON body."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        """Parse and validate a structured-mode JSON body (no field is filled in silently)."""
        return cls.model_validate_json(raw)


def new_event(
    *,
    type: str,
    source: str,
    tenant_id: str,
    data: BaseModel,
    subject: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """A new event whose payload is validated against the catalog's contract for `type`."""
    from shared.events.catalog import spec_for

    spec = spec_for(type)
    payload: BaseModel = spec.model.model_validate(data.model_dump(mode="json"))
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=f"/rapport/{source}",
        type=type,
        time=datetime.now(UTC),
        subject=subject,
        tenantid=tenant_id,
        data=payload.model_dump(mode="json"),
    )
