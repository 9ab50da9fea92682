"""Routes of satisfaction surveys: settings per channel, a conversation's surveys for staff, and the public
survey link (no token: the link's own secret is the key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.engagement.logic import surveys
from services.engagement.state import EngagementStateDep
from services.engagement.survey_schemas import (
    SurveyAnswer,
    SurveyLink,
    SurveyList,
    SurveyPublic,
    SurveySettingList,
    SurveySettingRead,
    SurveySettingUpdate,
)
from shared.auth import ADMINS, STAFF, Principal, require_roles
from shared.openapi import problems
from shared.service import ReaderDep, SessionDep

settings_router = APIRouter(prefix="/v1/survey-settings", tags=["surveys"])
staff_router = APIRouter(prefix="/v1/conversations", tags=["surveys"])
public_router = APIRouter(prefix="/v1/surveys", tags=["surveys"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
WorkerDep = Annotated[Principal, Depends(require_roles("owner", "admin", "agent"))]
ChannelId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="A listening channel's id, or `default` (conversations without a setting of their own).",
    ),
]
ConversationId = Annotated[str, Path(min_length=1, max_length=64)]
SurveyId = Annotated[str, Path(min_length=1, max_length=64)]
Token = Annotated[str, Path(min_length=1, max_length=200, description="The secret of the survey's link.")]


@settings_router.get(
    "", response_model=SurveySettingList, operation_id="list_survey_settings", summary="List survey settings"
)
async def list_settings(principal: StaffDep, reader: ReaderDep) -> SurveySettingList:
    """The tenant's survey settings, one per channel (and `default`)."""
    return await surveys.list_settings(reader, tenant_id=principal.tenant_id)


@settings_router.get(
    "/{channel_id}",
    response_model=SurveySettingRead,
    operation_id="get_survey_setting",
    summary="Get a channel's survey setting",
    responses=problems(404),
)
async def get_setting(principal: StaffDep, reader: ReaderDep, channel_id: ChannelId) -> SurveySettingRead:
    """The survey a channel's resolved conversations get."""
    return await surveys.get_setting(reader, tenant_id=principal.tenant_id, channel_id=channel_id)


@settings_router.put(
    "/{channel_id}",
    response_model=SurveySettingRead,
    operation_id="update_survey_setting",
    summary="Set a channel's survey",
    responses=problems(422),
)
async def put_setting(
    setting_in: SurveySettingUpdate, principal: AdminDep, session: SessionDep, channel_id: ChannelId
) -> SurveySettingRead:
    """Set the survey (CSAT, NPS or off), its question per language and its link's validity for a channel."""
    return await surveys.put_setting(
        session,
        tenant_id=principal.tenant_id,
        channel_id=channel_id,
        setting_in=setting_in,
        by_user_id=principal.user_id,
    )


@settings_router.delete(
    "/{channel_id}",
    status_code=204,
    operation_id="delete_survey_setting",
    summary="Remove a channel's survey setting",
    responses=problems(404),
)
async def delete_setting(principal: AdminDep, session: SessionDep, channel_id: ChannelId) -> Response:
    """Remove a channel's setting: its conversations fall back on the `default` setting, if any."""
    await surveys.delete_setting(session, tenant_id=principal.tenant_id, channel_id=channel_id)
    return Response(status_code=204)


@staff_router.get(
    "/{conversation_id}/surveys",
    response_model=SurveyList,
    operation_id="list_conversation_surveys",
    summary="List a conversation's surveys",
    responses=problems(404),
)
async def list_surveys(
    principal: StaffDep, session: SessionDep, conversation_id: ConversationId
) -> SurveyList:
    """The surveys a conversation's resolutions offered, with their answers."""
    return await surveys.list_surveys(session, tenant_id=principal.tenant_id, conversation_id=conversation_id)


@staff_router.post(
    "/{conversation_id}/surveys/{survey_id}/link",
    response_model=SurveyLink,
    operation_id="create_survey_link",
    summary="Issue a new survey link",
    responses=problems(404, 409, 410),
)
async def issue_link(
    principal: WorkerDep,
    session: SessionDep,
    state: EngagementStateDep,
    conversation_id: ConversationId,
    survey_id: SurveyId,
) -> SurveyLink:
    """A new link to a survey waiting for its answer, shown this once; earlier links stop answering."""
    return await surveys.issue_link(
        session,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        survey_id=survey_id,
        link_base=state.settings.survey_link_base,
    )


@public_router.get(
    "/{token}",
    response_model=SurveyPublic,
    operation_id="get_survey",
    summary="Get a survey by its link",
    responses=problems(404, 410),
)
async def get_survey(session: SessionDep, token: Token) -> SurveyPublic:
    """Public: the question of the survey a link leads to, its scale and whether it was answered."""
    return await surveys.read_survey(session, token=token)


@public_router.post(
    "/{token}",
    response_model=SurveyPublic,
    operation_id="create_survey_answer",
    summary="Answer a survey by its link",
    responses=problems(404, 409, 410),
)
async def answer_survey(answer_in: SurveyAnswer, session: SessionDep, token: Token) -> SurveyPublic:
    """Public: answer the survey a link leads to (once) with a score, an optional comment and an optional
    marketing opt-in (recorded in the customer's consent ledger)."""
    return await surveys.answer_by_link(session, token=token, answer_in=answer_in)
