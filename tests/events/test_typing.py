"""A subscription's handler must take the payload class the subscription names: mypy says so."""

from __future__ import annotations

from pathlib import Path

from mypy import api

SNIPPET = """
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.contracts import MentionEdited, MentionReceived
from shared.events.envelope import Event
from shared.service import Subscription


async def on_edited(session: AsyncSession, event: Event[MentionEdited]) -> None:
    print(event.data.text)


Subscription(durable="fits", event=MentionEdited, handler=on_edited)
Subscription(durable="does-not-fit", event=MentionReceived, handler=on_edited)
"""


def test_mypy_refuses_a_handler_of_another_payload(tmp_path: Path) -> None:
    module = tmp_path / "subscriptions.py"
    module.write_text(SNIPPET)
    out, _, status = api.run([str(module), "--cache-dir", str(tmp_path / "cache"), "--no-error-summary"])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1 and len(errors) == 1, out
    wrong = next(n for n, line in enumerate(SNIPPET.splitlines(), 1) if "does-not-fit" in line)
    assert errors[0].startswith(f"{module}:{wrong}:") and 'Argument "handler"' in errors[0], out
