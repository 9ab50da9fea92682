"""`rapport demo` against a running platform: a tenant, a multilingual batch, and what became of it."""

from __future__ import annotations

import pytest

from rapport.demo import POSTS, gateway_answers, run_demo
from rapport.stack import Stack


def test_demo_follows_every_post_through_the_platform(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gateway_answers(stack.gateway_url)
    assert not gateway_answers("http://127.0.0.1:9")

    assert run_demo(stack.gateway_url) == 0

    out = capsys.readouterr().out
    assert "login: demo-" in out
    assert f"Ingested {len(POSTS)} posts." in out
    for language in ("en", "ar", "sv", "tr", "hbs", "de", "fr"):
        assert f" {language} " in out, language
    assert "Profiles: 8" in out  # nine posts, one author posted twice
    assert "Conversations: 0" not in out
    assert f"Scorecard: mentions={len(POSTS)}" in out
