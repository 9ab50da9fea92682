"""The platforms' messaging windows (`shared/windows.py`): each boundary, per platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.windows import HUMAN_AGENT_TAG, decide

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@pytest.mark.parametrize(
    ("platform", "last", "human", "template", "allowed", "tag", "code"),
    [
        ("whatsapp", ago(hours=23, minutes=59), False, False, True, None, None),
        ("whatsapp", ago(hours=24), True, False, False, None, "outside_customer_service_window"),
        ("whatsapp", None, True, False, False, None, "outside_customer_service_window"),
        ("whatsapp", ago(days=30), True, True, True, None, None),
        ("whatsapp", None, False, True, True, None, None),
        ("messenger", ago(hours=23), True, False, True, None, None),
        ("messenger", ago(hours=24), True, False, True, HUMAN_AGENT_TAG, None),
        ("instagram", ago(days=6, hours=23), True, False, True, HUMAN_AGENT_TAG, None),
        ("instagram", ago(days=2), False, False, False, None, "outside_customer_service_window"),
        ("messenger", ago(days=7), True, False, False, None, "outside_human_agent_window"),
        ("messenger", None, True, False, False, None, "outside_human_agent_window"),
        ("messenger", ago(hours=1), True, True, False, None, "templates_not_supported"),
        ("x", None, False, False, True, None, None),
    ],
)
def test_private_messages(
    platform: str,
    last: datetime | None,
    human: bool,
    template: bool,
    allowed: bool,
    tag: str | None,
    code: str | None,
) -> None:
    decision = decide(platform, private=True, last_inbound_at=last, now=NOW, human=human, template=template)
    assert (decision.allowed, decision.tag, decision.code) == (allowed, tag, code)
    assert bool(decision.reason) == (not allowed)


def test_public_replies_have_no_window_and_refusals_say_what_is_left() -> None:
    assert decide("instagram", private=False, last_inbound_at=ago(days=30), now=NOW, human=False).allowed
    whatsapp = decide("whatsapp", private=True, last_inbound_at=ago(hours=25), now=NOW, human=True)
    assert whatsapp.alternatives == ("platform_template",)
    assert whatsapp.closed_at == ago(hours=1)
    survey = decide("messenger", private=True, last_inbound_at=ago(hours=25), now=NOW, human=False)
    assert survey.alternatives == ("human_agent_reply",)
    late = decide("messenger", private=True, last_inbound_at=ago(days=8), now=NOW, human=True)
    assert late.alternatives == () and late.closed_at == ago(days=1)
