"""#hashtags in a post's text: one pattern for the analysis (listening) and the top hashtags (metrics)."""

from __future__ import annotations

import re

HASHTAG_RE = re.compile(r"(?<![\w#&])#(\w+)", re.UNICODE)
# A link's fragment (`…/page#part`) is not a hashtag.
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# What a mention contributes at most: a post stuffed with tags does not flood the counts.
MAX_TAGS = 20
MAX_LENGTH = 64


def hashtags(text: str) -> list[str]:
    """The post's distinct hashtags, case-folded, without `#`, in order of first use (at most
    `MAX_TAGS`, each cut to `MAX_LENGTH` characters)."""
    seen: dict[str, None] = {}
    for tag in HASHTAG_RE.findall(_URL_RE.sub(" ", text)):
        seen.setdefault(tag.casefold()[:MAX_LENGTH])
        if len(seen) == MAX_TAGS:
            break
    return list(seen)
