"""A completed export's bundle is deleted once its keeping period ends; the request's record stays,
`expired`, and its download answers 410."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from services.profiles.logic import privacy_requests as logic
from services.profiles.privacy_models import PrivacyAnswer, PrivacyRequest
from services.profiles.settings import ProfilesSettings
from shared.db import create_engine, session_factory, utcnow
from tests.helpers import create_tables

KEEP = timedelta(days=30)


def request(kind: str, status: str, completed_days_ago: float | None) -> PrivacyRequest:
    now = utcnow()
    return PrivacyRequest(
        tenant_id="t1",
        kind=kind,
        status=status,
        profile_ids=["p1"],
        requested_by="u1",
        due_at=now,
        completed_at=None if completed_days_ago is None else now - timedelta(days=completed_days_ago),
    )


@pytest.mark.anyio
async def test_bundles_past_their_keeping_period_are_deleted(tmp_path: Path) -> None:
    engine = create_engine(ProfilesSettings(var_dir=tmp_path).resolved_database_url())
    await create_tables(engine)
    sessions = session_factory(engine)
    old, recent = request("export", "completed", 31), request("export", "completed", 29)
    open_ = request("export", "open", None)
    erasure = request("erasure", "completed", 90)
    rows = [old, recent, open_, erasure]
    try:
        async with sessions() as session:
            session.add_all(rows)
            await session.flush()
            session.add_all(
                PrivacyAnswer(
                    request_id=r.id,
                    service=service,
                    tenant_id="t1",
                    data={"mentions": []},
                    answered_at=utcnow(),
                )
                for r in rows
                for service in ("listening", "profiles")
            )
            await session.commit()

        assert await logic.expire_exports(sessions, keep=KEEP) == 1
        assert await logic.expire_exports(sessions, keep=KEEP) == 0  # done once

        async with sessions() as session:
            status = dict((await session.execute(select(PrivacyRequest.id, PrivacyRequest.status))).all())
            answered = set(await session.scalars(select(col(PrivacyAnswer.request_id)).distinct()))
            assert status == {
                old.id: "expired",
                recent.id: "completed",
                open_.id: "open",
                erasure.id: "completed",
            }
            assert answered == {recent.id, open_.id, erasure.id}

            with pytest.raises(logic.ExportExpired) as gone:
                await logic.export_bundle(session, tenant_id="t1", request_id=old.id)
            body = gone.value.body()
            assert (body["status"], body["type"]) == (410, "https://rapport.dev/problems/export-expired")
            bundle = await logic.export_bundle(session, tenant_id="t1", request_id=recent.id)
            assert bundle["request_id"] == recent.id
    finally:
        await engine.dispose()
