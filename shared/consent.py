"""Consent: may we process this person's data for this purpose? One answer, read from one projection.

profiles keeps the ledger (every grant, withdrawal, objection and restriction, with who and when) and
the tenants' policies; each write re-projects the person's current state into Redis *before* it answers,
so the gateway and the services, which read only the projection, apply it from the very next request.

Redis keys (hashes; one round trip reads all three):
- `consent:{tenant}:{profile}`: a field per purpose, `g` (granted) or `w` (withdrawn); `objections`, the
  purposes objected to (Art. 21), comma-separated; `restricted` = `1` under a restriction (Art. 18).
- `consent-policy:{tenant}`: a field per purpose naming its lawful basis; absent fields take the defaults.
- `consent:ready`: set once profiles has projected every ledger; while it is missing the projection may
  be incomplete (a fresh or flushed Redis), so every check answers "unknown" and callers refuse with 503
  rather than guess.

The rule, per purpose and the basis the tenant's policy gives it:
- a restricted person is processed for no purpose (storage only);
- `consent`: only with a current grant;
- `legitimate_interest`: unless the person withdrew or objected;
- `contract`: always (the restriction aside).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from shared.errors import ProblemError, ServiceUnavailable
from shared.events.contracts import AuditRecorded, ConsentStatus, LawfulBasis, Purpose
from shared.ids import uuid4_str

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

PURPOSES: tuple[str, ...] = get_args(Purpose)
BASES: tuple[str, ...] = get_args(LawfulBasis)
# A tenant's policy until it sets one: replying to someone who addressed the brand, enriching profiles
# and counting aggregates rest on legitimate interest; marketing needs consent.
DEFAULT_BASES: dict[str, LawfulBasis] = {
    "engagement": "legitimate_interest",
    "profiling": "legitimate_interest",
    "marketing": "consent",
    "analytics": "legitimate_interest",
}
READY_KEY = "consent:ready"
_STATUS_CODE: dict[str, str] = {"granted": "g", "withdrawn": "w"}

Reason = Literal[
    "granted", "no_consent", "withdrawn", "objected", "restricted", "legitimate_interest", "contract"
]


def person_key(tenant_id: str, profile_id: str) -> str:
    return f"consent:{tenant_id}:{profile_id}"


def policy_key(tenant_id: str) -> str:
    return f"consent-policy:{tenant_id}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one person and purpose: allowed or not, on which basis, and why."""

    purpose: str
    basis: str
    allowed: bool
    reason: Reason


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def decide(
    purpose: str,
    basis: str,
    status: str | None,
    objections: str | None,
    restricted: bool,
) -> Decision:
    """The rule of this module's docstring, on the projected fields (`status` is `g`, `w` or None)."""
    if restricted:
        return Decision(purpose, basis, False, "restricted")
    if basis == "contract":
        return Decision(purpose, basis, True, "contract")
    if basis == "consent":
        if status == "g":
            return Decision(purpose, basis, True, "granted")
        return Decision(purpose, basis, False, "withdrawn" if status == "w" else "no_consent")
    if status == "w":
        return Decision(purpose, basis, False, "withdrawn")
    if objections and purpose in objections.split(","):
        return Decision(purpose, basis, False, "objected")
    return Decision(purpose, basis, True, "granted" if status == "g" else "legitimate_interest")


async def check(redis: Redis, tenant_id: str, profile_id: str, purpose: str) -> Decision | None:
    """The decision for one person and purpose, in one round trip; None while the projection is not ready."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(READY_KEY)
        pipe.hmget(person_key(tenant_id, profile_id), [purpose, "objections", "restricted"])
        pipe.hget(policy_key(tenant_id), purpose)
        ready, (status, objections, restricted), basis = await pipe.execute()
    if not ready:
        return None
    return decide(
        purpose,
        _text(basis) or DEFAULT_BASES[purpose],
        _text(status),
        _text(objections),
        _text(restricted) == "1",
    )


def person_fields(
    purposes: Mapping[str, ConsentStatus], objections: Iterable[str], restricted: bool
) -> dict[str, str]:
    """The projected hash of one person's current state (empty when nothing is recorded)."""
    fields = {purpose: _STATUS_CODE[status] for purpose, status in purposes.items()}
    objected = sorted(set(objections))
    if objected:
        fields["objections"] = ",".join(objected)
    if restricted:
        fields["restricted"] = "1"
    return fields


async def project_person(
    redis: Redis,
    tenant_id: str,
    profile_id: str,
    purposes: Mapping[str, ConsentStatus],
    objections: Iterable[str] = (),
    restricted: bool = False,
) -> None:
    """Replace one person's projected state atomically (deleted when nothing is recorded)."""
    key = person_key(tenant_id, profile_id)
    fields = person_fields(purposes, objections, restricted)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if fields:
            mapping: dict[FieldT, EncodableT] = {k: v for k, v in fields.items()}
            pipe.hset(key, mapping=mapping)
        await pipe.execute()


async def project_policy(redis: Redis, tenant_id: str, bases: Mapping[str, LawfulBasis]) -> None:
    """Replace a tenant's projected policy atomically."""
    key = policy_key(tenant_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if bases:
            mapping: dict[FieldT, EncodableT] = {k: v for k, v in bases.items()}
            pipe.hset(key, mapping=mapping)
        await pipe.execute()


async def mark_ready(redis: Redis) -> None:
    """Every ledger has been projected: checks may answer from here on."""
    await redis.set(READY_KEY, "1")


# --- enforcing it: the one refusal, the audit record, the service-side check ------------------------------

CONSENT_REQUIRED = "https://rapport.dev/problems/consent-required"
CONSENT_UNAVAILABLE = "https://rapport.dev/problems/consent-unavailable"


class ConsentRequired(ProblemError):
    """451: no lawful basis to process this person's data for this purpose (the gateway's and the services'
    refusal alike)."""

    status = 451
    type = CONSENT_REQUIRED


class ConsentUnknown(ServiceUnavailable):
    """503: the projection is not ready, so no decision can be made yet."""

    type = CONSENT_UNAVAILABLE


_REASON_TEXT: dict[str, str] = {
    "no_consent": "the person has not consented",
    "withdrawn": "the person withdrew their consent",
    "objected": "the person objected",
    "restricted": "processing of the person's data is restricted",
}


def refusal(decision: Decision, profile_id: str) -> ConsentRequired:
    """The problem a refused decision answers: it names the purpose, the basis and the reason (ids only)."""
    why = _REASON_TEXT.get(decision.reason, decision.reason)
    return ConsentRequired(
        f"No lawful basis to process this person's data for {decision.purpose}: {why}.",
        purpose=decision.purpose,
        basis=decision.basis,
        reason=decision.reason,
        profile_id=profile_id,
    )


def unknown() -> ConsentUnknown:
    return ConsentUnknown(
        "Consent cannot be checked yet (the consent projection is being rebuilt); try again shortly.",
        headers={"Retry-After": "1"},
    )


def audit_record(
    decision: Decision,
    *,
    profile_id: str,
    recorded_by: str,
    actor_id: str | None = None,
    actor_kind: Literal["user", "api_key", "system"] = "user",
    method: str | None = None,
    path: str | None = None,
    request_id: str | None = None,
) -> AuditRecorded:
    """The audit record of one decision (ids only: `path` must carry no query string)."""
    return AuditRecorded(
        audit_id=uuid4_str(),
        actor_id=actor_id,
        actor_kind=actor_kind,
        profile_id=profile_id,
        purpose=decision.purpose,
        decision="allowed" if decision.allowed else "refused",
        reason=decision.reason,
        method=method,
        path=path.split("?", 1)[0] if path is not None else None,
        recorded_by=recorded_by,
        request_id=request_id,
        at=datetime.now(UTC),
    )


async def check_many(
    redis: Redis, tenant_id: str, profile_ids: Sequence[str], purpose: str
) -> dict[str, Decision] | None:
    """`check` for many people at once (one round trip); None while the projection is not ready."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(READY_KEY)
        pipe.hget(policy_key(tenant_id), purpose)
        for profile_id in profile_ids:
            pipe.hmget(person_key(tenant_id, profile_id), [purpose, "objections", "restricted"])
        ready, basis, *people = await pipe.execute()
    if not ready:
        return None
    resolved = _text(basis) or DEFAULT_BASES[purpose]
    return {
        profile_id: decide(purpose, resolved, _text(status), _text(objections), _text(restricted) == "1")
        for profile_id, (status, objections, restricted) in zip(profile_ids, people, strict=True)
    }


async def require(
    redis: Redis,
    session: AsyncSession,
    *,
    tenant_id: str,
    profile_id: str,
    purpose: str,
    recorded_by: str,
    actor_id: str | None = None,
    actor_kind: Literal["user", "api_key", "system"] = "user",
    method: str | None = None,
    path: str | None = None,
    request_id: str | None = None,
) -> Decision:
    """The service-side check, for where only the service knows whom a request is about.

    Same decision, same refusal as the gateway's: the audit record of the decision (allowed or refused)
    is staged through the caller's outbox. On a refusal it is committed here before the 451 is raised (call
    this before changing anything); an allowed record commits with the caller's own changes. While the
    projection is not ready it raises the 503 and records nothing (no decision was made)."""
    from shared.events.envelope import new_event
    from shared.events.outbox import stage

    decision = await check(redis, tenant_id, profile_id, purpose)
    if decision is None:
        raise unknown()
    record = audit_record(
        decision,
        profile_id=profile_id,
        recorded_by=recorded_by,
        actor_id=actor_id,
        actor_kind=actor_kind,
        method=method,
        path=path,
        request_id=request_id,
    )
    stage(session, new_event(record, source=recorded_by, tenant_id=tenant_id, subject=profile_id))
    if not decision.allowed:
        await session.commit()
        raise refusal(decision, profile_id)
    return decision
