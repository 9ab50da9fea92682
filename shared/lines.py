"""Lines of a streamed request body (imports), numbered, without holding the body."""

from __future__ import annotations

from collections.abc import AsyncIterator

# The longest line an import reads; a longer one is that line's error, not the import's.
MAX_LINE = 1024 * 1024


class BodyTooLarge(Exception):
    """The body grew past its limit while it was read."""


async def numbered_lines(
    chunks: AsyncIterator[bytes], *, max_body: int | None = None
) -> AsyncIterator[tuple[int, bytes | None]]:
    """(line number, bytes without the newline) for each line; None for a line over `MAX_LINE`.

    `BodyTooLarge` once more than `max_body` bytes came in (no limit without one)."""
    buf = bytearray()
    too_long = False
    number = 0
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if max_body is not None and size > max_body:
            raise BodyTooLarge
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not too_long:
                buf += piece
                if len(buf) > MAX_LINE:
                    too_long = True
                    buf.clear()
            if end < 0:
                break
            number += 1
            yield number, None if too_long else bytes(buf).removesuffix(b"\r")
            buf.clear()
            too_long = False
            start = end + 1
    if buf or too_long:
        number += 1
        yield number, None if too_long else bytes(buf).removesuffix(b"\r")
