"""The definitions are written once: the API's field descriptions and docs/metrics.md say the same."""

from __future__ import annotations

from pathlib import Path

from services.metrics.app import create_app
from services.metrics.schemas import DEFINITIONS
from services.metrics.settings import MetricsSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_doc_holds_every_definition_word_for_word() -> None:
    doc = _flat(DOC.read_text())
    missing = [name for name, text in DEFINITIONS.items() if _flat(text) not in doc]
    assert not missing


def test_the_api_describes_each_figure_with_its_definition() -> None:
    schema = create_app(MetricsSettings(api_docs=True)).openapi()
    described = {
        _flat(prop.get("description", ""))
        for component in schema["components"]["schemas"].values()
        for prop in component.get("properties", {}).values()
    }
    for name in (
        "net_sentiment",
        "share_of_voice",
        "first_response",
        "resolution",
        "sla",
        "reopen",
        "csat",
        "nps",
    ):
        assert _flat(DEFINITIONS[name]) in described, name
    for name in ("social_conversion", "retention", "clv", "conversations", "mentions"):
        assert _flat(DEFINITIONS[name]) in described, name
