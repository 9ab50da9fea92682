"""Request and response bodies of the consent ledger and the privacy routes (policy, audit, records)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.profiles.schemas import ProfileUpsert
from shared.events.contracts import ConsentStatus, LawfulBasis, Purpose

# Who or what gave the consent: `agent` (the default for a staff member's write), `customer`, `partner`,
# a channel (`whatsapp`, `dm`, `survey`), `merge`.
Source = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
EVIDENCE_MAX = 4096


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, default=str)) > EVIDENCE_MAX:
        raise ValueError(f"evidence is at most {EVIDENCE_MAX} characters of JSON")
    return value


class ConsentWrite(BaseModel):
    """A grant or a withdrawal, with its evidence (what the person said, where, a reference)."""

    model_config = ConfigDict(extra="forbid")

    status: ConsentStatus
    basis: LawfulBasis | None = Field(
        default=None, description="The lawful basis recorded with it; the tenant policy's when absent."
    )
    source: Source = Field(default="agent", description="Where it was given: agent, customer, partner, …")
    evidence: dict[str, Any] = Field(default_factory=dict, description="At most 4 KB of JSON.")

    _evidence = field_validator("evidence")(_small)


class FlagWrite(BaseModel):
    """An objection (Art. 21) or a restriction (Art. 18) set (`active`) or lifted."""

    model_config = ConfigDict(extra="forbid")

    active: bool
    reason: Reason | None = None


class Decision(BaseModel):
    allowed: bool
    reason: str = Field(description="granted, no_consent, withdrawn, objected, restricted, …")


class PurposeState(BaseModel):
    """One purpose for this person: what they said, the basis the tenant's policy gives it, the decision."""

    purpose: Purpose
    status: ConsentStatus | None
    basis: LawfulBasis
    objected: bool
    decision: Decision


class ConsentEntry(BaseModel):
    """One entry of the history: who (a user id, or the source), when, what, with which evidence."""

    id: str
    kind: Literal["consent", "objection", "restriction"]
    purpose: Purpose | None
    status: str = Field(description="granted | withdrawn (consent); active | lifted (objection, restriction)")
    basis: LawfulBasis | None
    source: str
    evidence: dict[str, Any]
    reason: str | None
    by_user_id: str | None
    origin_profile_id: str = Field(description="The profile it was recorded for (differs after a merge).")
    merge_id: str | None = Field(description="The merge whose most restrictive state this entry carried.")
    created_at: datetime


class ConsentHistoryPage(BaseModel):
    items: list[ConsentEntry]
    next_cursor: str | None = None


class ConsentView(BaseModel):
    """A person's current state per purpose and their history, newest first (paged by `cursor`)."""

    profile_id: str
    merged_into: str | None
    purposes: list[PurposeState]
    objections: list[Purpose]
    restricted: bool
    history: ConsentHistoryPage


class PolicyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bases: dict[Purpose, LawfulBasis] = Field(
        default_factory=dict, description="The lawful basis per purpose; purposes left out take the default."
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Posts and messages older than this are deleted; null: kept.",
    )


class PolicyRead(BaseModel):
    bases: dict[Purpose, LawfulBasis]
    retention_days: int | None
    updated_at: datetime | None
    updated_by: str | None


class AuditRead(BaseModel):
    """One access to a person's data, allowed or refused."""

    id: str
    actor_id: str | None
    actor_kind: str
    profile_id: str | None
    purpose: str
    decision: str
    reason: str
    method: str | None
    path: str | None
    recorded_by: str
    request_id: str | None
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = None


class ProcessingPurpose(BaseModel):
    purpose: Purpose
    description: str
    lawful_basis: LawfulBasis
    services: list[str]


class ProcessingCategory(BaseModel):
    service: str
    data_subjects: str
    categories: list[str]
    retention: str


class ProcessingRecords(BaseModel):
    """The record of processing activities (Art. 30), for this tenant."""

    controller_tenant_id: str
    purposes: list[ProcessingPurpose]
    data_categories: list[ProcessingCategory]
    recipients: list[str]
    retention_days: int | None
    transfers: str
    security_measures: list[str]


class PartnerConsent(BaseModel):
    """A consent a partner's CRM holds for the customer, recorded with source `partner`."""

    model_config = ConfigDict(extra="forbid")

    status: ConsentStatus
    evidence: dict[str, Any] = Field(default_factory=dict)

    _evidence = field_validator("evidence")(_small)


class PartnerProfileUpsert(ProfileUpsert):
    """A partner's customer record, with the consents the partner's CRM holds for them (each recorded in
    the ledger with source `partner` when it changes the person's state)."""

    consents: dict[Purpose, PartnerConsent] = Field(default_factory=dict)
