"""Tags: normalised (NFKC, trimmed, case-folded), at most 50 characters, at most 100 per profile."""

from __future__ import annotations

import unicodedata

from services.profiles.errors import TagsInvalid

MAX_TAG = 50
MAX_TAGS = 100


def normalise_tag(tag: str) -> str:
    """A tag as stored: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", tag).strip().casefold()


def _tags_error(msg: str) -> TagsInvalid:
    return TagsInvalid(
        f"The tags are not valid: {msg}.",
        errors=[{"loc": ["body", "tags"], "msg": msg, "type": "tags_invalid"}],
    )


def apply_tags(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    """`current` with `remove` taken out, then `add` appended (each once, in order), all normalised."""
    adding, removing = [normalise_tag(t) for t in add], {normalise_tag(t) for t in remove}
    for tag in adding:
        if not tag:
            raise _tags_error("a tag is empty")
        if len(tag) > MAX_TAG:
            raise _tags_error(f"a tag is longer than {MAX_TAG} characters")
    tags = [t for t in current if t not in removing]
    for tag in adding:
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _tags_error(f"a profile has at most {MAX_TAGS} tags")
    return tags
