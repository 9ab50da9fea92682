"""Satisfaction surveys: a CSAT (1-5) or NPS (0-10) question offered when a conversation is resolved.

Settings are per listening channel (`survey_setting`, keyed by the channel's id as conversations carry it;
engagement does not ask listening whether the channel exists). The id `default` holds the tenant's
setting for channels without one of their own and for conversations without a channel.

On resolve, with a survey configured, a `survey` row is written and the question goes back through the
conversation's channel as an outbound message (`send_reply(..., origin="survey")`), followed by the
survey's link. It cannot go out when the conversation has no channel, or when the platform's
customer-service window has closed (WhatsApp, Messenger, Instagram: 24 hours after the customer's last
message on the conversation, after which only approved templates may be sent): the survey is then
recorded `link_only`, and staff can take a link (`issue_link`) to share some other way.

The link carries a random secret of 256 bits; only its SHA-256 digest is stored. A signed token
(python-jose) was weighed: it would need a key shared by the replicas and rotated, make the link long,
and still need the row to be single use; a random secret is short, needs no key, and a leaked one is
revoked by issuing a new link. The token is the only key to the public routes: whoever holds the link
may read the question and answer it once, and sees nothing else of the conversation.

An answer comes by the link (`answer_by_link`) or as the customer's next post on the channel that is just
a score ("5", "4/5", "⭐⭐⭐⭐"): `answer_by_reply` runs first in the mention path, for every post, so it
looks at the text before it touches the database. Either way the answer is written once (a conditional
UPDATE, so a reply and a link answer racing on two replicas cannot both win) and staged as
`engagement.survey.answered`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import (
    ConversationNotFound,
    InvalidSurveyAnswer,
    SurveyAlreadyAnswered,
    SurveyExpired,
    SurveyNotFound,
)
from services.engagement.models import Conversation, Message, Survey, SurveySetting
from services.engagement.survey_schemas import (
    SurveyAnswer,
    SurveyLink,
    SurveyList,
    SurveyPublic,
    SurveyRead,
    SurveyScale,
    SurveySettingList,
    SurveySettingRead,
    SurveySettingUpdate,
)
from services.engagement.tenant_privacy.capture import capture_survey_opt_in
from shared.db import utcnow
from shared.errors import Unprocessable
from shared.events.contracts import MentionPayload, MentionResolved, SurveyAnswered
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.reads import Reader
from shared.tenancy import get_scoped, scoped
from shared.windows import WINDOWED_PLATFORMS, decide

log = logging.getLogger("rapport.engagement.surveys")

SOURCE = "engagement"
DEFAULT_CHANNEL = "default"
DEFAULT_LINK_BASE = "http://127.0.0.1:8000/v1/surveys/"
SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}
DEFAULT_QUESTIONS = {
    "csat": "How satisfied are you with the help you got from us? Reply with a number from 1 (not at all) "
    "to 5 (very), or answer here:",
    "nps": "How likely are you to recommend us to a friend or colleague? Reply with a number from 0 (not at "
    "all likely) to 10 (extremely likely), or answer here:",
}

# A post that is just a score: "5", " 4/5 ", "10!", "9 / 10"; or one to five stars ("⭐⭐⭐⭐", "★★★").
_SCORE = re.compile(r"\s*(\d{1,2})\s*(?:/\s*(5|10))?\s*[.!]*\s*")
_STARS = re.compile(r"\s*(?:(?:\u2b50|\u2605)\ufe0f?\s*){1,5}")
_STAR_CHARS = ("\u2b50", "\u2605")
SCORE_TEXT_MAX = 24  # longer posts are never just a score: no regex runs on them


def digest(token: str) -> str:
    """The stored form of a link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A link token (256 random bits, URL-safe) and its digest."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def parse_score(text: str) -> tuple[int, int | None] | None:
    """The score a post that is just a score gives, and the scale it names ("4/5" → (4, 5)); None for
    any other post."""
    if len(text) > SCORE_TEXT_MAX:
        return None
    match = _SCORE.fullmatch(text)
    if match is not None:
        return int(match.group(1)), int(match.group(2)) if match.group(2) else None
    if _STARS.fullmatch(text):
        return sum(text.count(star) for star in _STAR_CHARS), 5
    return None


def score_fits(kind: str, score: int, out_of: int | None = None) -> bool:
    """Whether `score` (on the scale `out_of`, when the customer named one) answers a survey of `kind`."""
    low, high = SCALES[kind]
    return low <= score <= high and out_of in (None, high)


# --- settings ------------------------------------------------------------------------------------


def _setting_read(row: Any) -> SurveySettingRead:
    return SurveySettingRead.model_validate(row, from_attributes=True)


async def put_setting(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str,
    setting_in: SurveySettingUpdate,
    by_user_id: str,
) -> SurveySettingRead:
    """Create or replace the survey setting of one of the tenant's channels (or its `default`)."""
    setting = await session.get(SurveySetting, (tenant_id, channel_id)) or SurveySetting(
        tenant_id=tenant_id, channel_id=channel_id, kind=setting_in.kind, link_valid_s=setting_in.link_valid_s
    )
    setting.kind = setting_in.kind
    setting.questions = json.dumps(setting_in.questions, ensure_ascii=False, sort_keys=True)
    setting.default_question = setting_in.default_question
    setting.link_valid_s = setting_in.link_valid_s
    setting.updated_by = by_user_id
    setting.updated_at = utcnow()
    session.add(setting)
    await session.commit()
    log.info("survey_setting.put", extra={"tenant_id": tenant_id, "channel_id": channel_id})
    return _setting_read(setting)


_SETTING = select(SurveySetting.__table__).where(  # type: ignore[attr-defined]
    col(SurveySetting.tenant_id) == bindparam("tenant_id"),
    col(SurveySetting.channel_id) == bindparam("channel_id"),
)
_SETTINGS = (
    select(SurveySetting.__table__)  # type: ignore[attr-defined]
    .where(col(SurveySetting.tenant_id) == bindparam("tenant_id"))
    .order_by(col(SurveySetting.channel_id))
)


async def get_setting(reader: Reader, *, tenant_id: str, channel_id: str) -> SurveySettingRead:
    """The survey setting of one of the tenant's channels."""
    row = await reader.first(_SETTING, {"tenant_id": tenant_id, "channel_id": channel_id})
    if row is None:
        raise SurveyNotFound(f"Channel {channel_id} has no survey setting.")
    return _setting_read(row)


async def list_settings(reader: Reader, *, tenant_id: str) -> SurveySettingList:
    """The tenant's survey settings, by channel id (a tenant has one per channel at most)."""
    rows = await reader.all(_SETTINGS, {"tenant_id": tenant_id})
    return SurveySettingList(items=[_setting_read(row) for row in rows])


async def delete_setting(session: AsyncSession, *, tenant_id: str, channel_id: str) -> None:
    """Remove a channel's survey setting (its conversations fall back on the tenant's `default`)."""
    setting = await session.get(SurveySetting, (tenant_id, channel_id))
    if setting is None:
        raise SurveyNotFound(f"Channel {channel_id} has no survey setting.")
    await session.delete(setting)
    await session.commit()
    log.info("survey_setting.deleted", extra={"tenant_id": tenant_id, "channel_id": channel_id})


def question_for(setting: SurveySetting, language: str | None) -> str:
    """The question in the conversation's language (or its base language), else the default."""
    questions: dict[str, str] = json.loads(setting.questions)
    if language:
        language = language.lower()
        found = questions.get(language) or questions.get(language.split("-", 1)[0])
        if found:
            return found
    return setting.default_question or DEFAULT_QUESTIONS[setting.kind]


# --- on resolve ----------------------------------------------------------------------------------


async def _setting_for(
    session: AsyncSession, *, tenant_id: str, channel_id: str | None
) -> SurveySetting | None:
    """The channel's own setting, else the tenant's default (one query)."""
    wanted = [DEFAULT_CHANNEL] if channel_id is None else [channel_id, DEFAULT_CHANNEL]
    stmt = scoped(SurveySetting, tenant_id).where(col(SurveySetting.channel_id).in_(wanted))
    found = {row.channel_id: row for row in (await session.execute(stmt)).scalars().all()}
    return found.get(channel_id or DEFAULT_CHANNEL) or found.get(DEFAULT_CHANNEL)


async def window_open(session: AsyncSession, *, conversation: Conversation, now: datetime) -> bool:
    """Whether an automatic free-form message may go out on the conversation's platform now: always,
    except on platforms with a 24-hour window (`shared/windows.py`), counted from the customer's last
    message (a thread there counts as private, whether it began as a comment or a direct message)."""
    if (conversation.platform or "") not in WINDOWED_PLATFORMS:
        return True
    stmt = select(func.max(col(Message.posted_at))).where(
        col(Message.conversation_id) == conversation.id, col(Message.direction) == "inbound"
    )
    last: datetime | None = (await session.execute(stmt)).scalar_one_or_none()
    if last is not None and last.tzinfo is None:  # SQLite forgets the offset of an aggregate
        last = last.replace(tzinfo=now.tzinfo)
    return decide(conversation.platform, private=True, last_inbound_at=last, now=now, human=False).allowed


async def _waiting(session: AsyncSession, *, conversation: Conversation, now: datetime) -> Survey | None:
    stmt = scoped(Survey, conversation.tenant_id).where(
        col(Survey.conversation_id) == conversation.id,
        col(Survey.answered_at).is_(None),
        col(Survey.expires_at) > now,
    )
    return (await session.execute(stmt)).scalars().first()


async def offer_survey(
    session: AsyncSession, *, conversation: Conversation, now: datetime, link_base: str = DEFAULT_LINK_BASE
) -> Survey | None:
    """A resolved conversation gets the survey its channel is set up for: sent through the channel with
    its link, or recorded `link_only` when no message may go out. None: no survey (none configured, or
    one of the conversation's is still waiting for its answer). No commit."""
    setting = await _setting_for(
        session, tenant_id=conversation.tenant_id, channel_id=conversation.channel_id
    )
    if setting is None or setting.kind not in SCALES:
        return None
    if await _waiting(session, conversation=conversation, now=now) is not None:
        return None  # resolved again before the customer answered: one question is enough
    token, token_digest = new_token()
    question = question_for(setting, conversation.language)
    survey = Survey(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        profile_id=conversation.profile_id,
        channel_id=conversation.channel_id,
        platform=conversation.platform,
        assignee_id=conversation.assignee_id,
        kind=setting.kind,
        state="link_only",
        language=conversation.language,
        question=question,
        token_digest=token_digest,
        expires_at=now + timedelta(seconds=setting.link_valid_s),
        created_at=now,
    )
    if conversation.channel_id is not None and await window_open(session, conversation=conversation, now=now):
        from services.engagement.logic.replies import send_reply

        try:
            message = await send_reply(
                session,
                conversation=conversation,
                text=f"{question}\n{link_base}{token}",
                author_id=None,
                now=now,
                origin="survey",
            )
        except Unprocessable:  # the channel cannot take a free-form message now: the link is all there is
            log.info("survey.not_sendable", extra={"tenant_id": conversation.tenant_id})
        else:
            survey.state, survey.message_id = "sent", message.id
    session.add(survey)
    log.info(
        "survey.offered",
        extra={
            "tenant_id": conversation.tenant_id,
            "conversation_id": conversation.id,
            "survey_id": survey.id,
            "kind": survey.kind,
            "state": survey.state,
        },
    )
    return survey


# --- answers -------------------------------------------------------------------------------------

# The profile's survey waiting for an answer on a channel, newest first (ix_survey_tenant_profile), while
# its conversation stays finished: once the customer reopened it, a number belongs to the new exchange.
_OPEN_ON_CHANNEL: Select[Any] = (
    select(Survey)
    .join(Conversation, col(Conversation.id) == col(Survey.conversation_id))
    .where(
        col(Conversation.status).in_(("resolved", "closed")),
        col(Survey.tenant_id) == bindparam("tenant_id"),
        col(Survey.profile_id) == bindparam("profile_id"),
        col(Survey.channel_id) == bindparam("channel_id"),
        col(Survey.state) == "sent",
        col(Survey.answered_at).is_(None),
        col(Survey.expires_at) > bindparam("now"),
    )
    .order_by(col(Survey.created_at).desc())
    .limit(1)
)


async def _record_answer(
    session: AsyncSession,
    *,
    survey: Survey,
    score: int,
    comment: str | None,
    via: str,
    mention_id: str | None,
    now: datetime,
) -> bool:
    """Write the answer unless another one got there first (False); stage `engagement.survey.answered`."""
    table = Survey.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        update(table)
        .where(table.c.id == survey.id, table.c.answered_at.is_(None))
        .values(answered_at=now, score=score, comment=comment, answered_via=via, answer_mention_id=mention_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    stage(
        session,
        new_event(
            SurveyAnswered(
                survey_id=survey.id,
                conversation_id=survey.conversation_id,
                profile_id=survey.profile_id,
                assignee_id=survey.assignee_id,
                kind=survey.kind,
                score=score,
                channel_id=survey.channel_id,
                platform=survey.platform,
                via=via,
                answered_at=now,
            ),
            source=SOURCE,
            tenant_id=survey.tenant_id,
            subject=survey.id,
        ),
    )
    log.info(
        "survey.answered",
        extra={"tenant_id": survey.tenant_id, "survey_id": survey.id, "kind": survey.kind, "via": via},
    )
    return True


def may_answer(mention: MentionPayload) -> bool:
    """Whether a post could answer a survey (`answer_by_reply` looks only then): just a score, through a
    channel. Pure: a batch routes what came before such a post first, since a survey waits only while its
    conversation stays finished."""
    return getattr(mention, "channel_id", None) is not None and parse_score(mention.text) is not None


async def answer_by_reply(
    session: AsyncSession, *, tenant_id: str, resolved: MentionResolved, now: datetime | None = None
) -> bool:
    """Take a post that is just a score, on the channel a survey went out through, as the answer to the
    profile's waiting survey; False (and nothing read) for any other post."""
    mention = resolved.mention
    channel_id = getattr(mention, "channel_id", None)
    if channel_id is None:
        return False
    parsed = parse_score(mention.text)
    if parsed is None:
        return False
    now = now or utcnow()
    params = {"tenant_id": tenant_id, "profile_id": resolved.profile_id, "channel_id": channel_id, "now": now}
    survey = (await session.execute(_OPEN_ON_CHANNEL, params)).scalars().first()
    if survey is None or not score_fits(survey.kind, *parsed):
        return False
    return await _record_answer(
        session,
        survey=survey,
        score=parsed[0],
        comment=None,
        via="reply",
        mention_id=mention.mention_id,
        now=now,
    )


_BY_DIGEST: Select[Any] = select(Survey).where(col(Survey.token_digest) == bindparam("digest"))


async def _by_token(session: AsyncSession, token: str) -> Survey:
    # The token is the key: its digest finds the survey in whichever tenant it is (unknown or forged: 404).
    survey: Survey | None = (await session.execute(_BY_DIGEST, {"digest": digest(token)})).scalars().first()
    if survey is None:
        raise SurveyNotFound("No survey has this link.")
    return survey


async def read_survey(session: AsyncSession, *, token: str, now: datetime | None = None) -> SurveyPublic:
    """The survey a link leads to: its question, scale and whether it was answered."""
    survey = await _by_token(session, token)
    if survey.answered_at is None and survey.expires_at <= (now or utcnow()):
        raise SurveyExpired("This survey link has expired.")
    low, high = SCALES[survey.kind]
    return SurveyPublic(
        kind=survey.kind,
        question=survey.question,
        language=survey.language,
        scale=SurveyScale(min=low, max=high),
        answered=survey.answered_at is not None,
        expires_at=survey.expires_at,
    )


async def answer_by_link(session: AsyncSession, *, token: str, answer_in: SurveyAnswer) -> SurveyPublic:
    """Answer the survey a link leads to, once."""
    now = utcnow()
    survey = await _by_token(session, token)
    if survey.answered_at is not None:
        raise SurveyAlreadyAnswered("This survey was already answered.")
    if survey.expires_at <= now:
        raise SurveyExpired("This survey link has expired.")
    if not score_fits(survey.kind, answer_in.score):
        low, high = SCALES[survey.kind]
        raise InvalidSurveyAnswer(f"The score must be from {low} to {high}.")
    recorded = await _record_answer(
        session,
        survey=survey,
        score=answer_in.score,
        comment=answer_in.comment or None,
        via="link",
        mention_id=None,
        now=now,
    )
    if not recorded:
        raise SurveyAlreadyAnswered("This survey was already answered.")
    if answer_in.marketing_opt_in:
        capture_survey_opt_in(session, survey=survey)
    await session.commit()
    low, high = SCALES[survey.kind]
    return SurveyPublic(
        kind=survey.kind,
        question=survey.question,
        language=survey.language,
        scale=SurveyScale(min=low, max=high),
        answered=True,
        expires_at=survey.expires_at,
    )


# --- staff ---------------------------------------------------------------------------------------


@functools.cache
def _of_conversation() -> Select[Any]:
    table = Survey.__table__  # type: ignore[attr-defined]
    return (
        select(*(table.c[name] for name in SurveyRead.model_fields))
        .where(
            table.c.tenant_id == bindparam("tenant_id"),
            table.c.conversation_id == bindparam("conversation_id"),
        )
        .order_by(table.c.created_at.asc(), table.c.id.asc())
    )


async def list_surveys(session: AsyncSession, *, tenant_id: str, conversation_id: str) -> SurveyList:
    """The surveys of one of the tenant's conversations, oldest first, with their answers."""
    await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=conversation_id, error=ConversationNotFound
    )
    rows = (
        await session.execute(
            _of_conversation(), {"tenant_id": tenant_id, "conversation_id": conversation_id}
        )
    ).all()
    return SurveyList(items=[SurveyRead.model_validate(row, from_attributes=True) for row in rows])


async def issue_link(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    survey_id: str,
    link_base: str = DEFAULT_LINK_BASE,
) -> SurveyLink:
    """A new link to a survey waiting for its answer, to share by other means (a `link_only` survey, or a
    customer who lost the message); the survey's earlier links stop answering."""
    survey = await get_scoped(session, Survey, tenant_id=tenant_id, id=survey_id, error=SurveyNotFound)
    if survey.conversation_id != conversation_id:
        raise SurveyNotFound(f"Survey {survey_id} was not found.")
    if survey.answered_at is not None:
        raise SurveyAlreadyAnswered("This survey was already answered.")
    if survey.expires_at <= utcnow():
        raise SurveyExpired("This survey has expired.")
    token, survey.token_digest = new_token()
    session.add(survey)
    await session.commit()
    log.info("survey.link_issued", extra={"tenant_id": tenant_id, "survey_id": survey.id})
    return SurveyLink(survey_id=survey.id, link=f"{link_base}{token}", expires_at=survey.expires_at)
