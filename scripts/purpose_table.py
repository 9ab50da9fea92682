"""Rewrite the processing table in docs/privacy.md from the gateway's (`gateway/routes.py`, `PROCESSING`).

    python scripts/purpose_table.py          # rewrite it
    python scripts/purpose_table.py --check  # exit 1 if it is not up to date

`tests/gateway/test_purposes.py` fails while the document and the table differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.routes import purpose_table  # noqa: E402

DOC = ROOT / "docs" / "privacy.md"
START = "<!-- processing table: generated from gateway/routes.py by scripts/purpose_table.py -->\n"
END = "<!-- end of processing table -->\n"


def rendered(text: str) -> str:
    """`text` (the document) with its processing table as the gateway's."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + purpose_table() + END + tail


def main() -> int:
    text = DOC.read_text()
    new = rendered(text)
    if "--check" in sys.argv[1:]:
        return 0 if new == text else 1
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
