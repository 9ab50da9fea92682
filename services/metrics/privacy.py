"""metrics' answer to privacy requests (`shared.privacy`): it holds nothing that names a person.

Its only table counts events per tenant, UTC day and metric name (`mentions.sentiment.negative`,
`conversations.opened`, `surveys.csat.4`, ...): no profile id, identifier or text is ever part of a
key or a value. An export answers that nothing is held; an erasure changes nothing, and the counts the
person's posts, conversations and answers added stay, anonymous. (The service's outbox rows that name
the person are deleted by the plumbing, like every service's.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.contracts import PrivacySubject
from shared.privacy import ErasureResult


async def export_person(
    session: AsyncSession, tenant_id: str, subject: PrivacySubject
) -> dict[str, list[dict[str, Any]]]:
    """Nothing: metrics keeps anonymous counts only."""
    return {"counters": []}


async def erase_person(session: AsyncSession, tenant_id: str, subject: PrivacySubject) -> ErasureResult:
    """Nothing to erase: the counters name nobody, and they stay."""
    return ErasureResult(counts={}, references=[])
