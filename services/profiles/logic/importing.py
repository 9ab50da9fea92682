"""Bulk import of a partner's customers from CSV or JSON Lines, read as a stream (never loaded whole).

Each line is an upsert of `crm_sync.upsert_partner_profile`; lines are stored `CHUNK` at a time, one
transaction each. The answer is itself a stream of JSON lines: `{"line", "error"}` for each refused line
(the first `MAX_LISTED_ERRORS`), `{"progress": {...}}` after each stored chunk, and last the summary
`{"summary": {"created", "updated", "unchanged", "failed", "lines"}}` — or `{"error", "line"}` when the
body grew past the limit, after which nothing more is read.
CSV records may span lines inside quotes; a record's number is the line it starts on (the header is 1).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profiles.logic.crm_sync import Lookup, upsert_partner_profile
from services.profiles.schemas import ImportLine, ImportReport
from shared.lines import MAX_LINE, BodyTooLarge
from shared.lines import numbered_lines as read_lines

log = logging.getLogger("rapport.profiles.import")

Format = Literal["jsonl", "csv"]
CHUNK = 500
MAX_BODY = 50 * 1024 * 1024
MAX_LISTED_ERRORS = 1000
CSV_COLUMNS = (
    "system",
    "external_id",
    "display_name",
    "email",
    "phone",
    "website",
    "handle_platform",
    "handle",
    "tags",
)
REQUIRED_COLUMNS = frozenset({"system", "external_id"})
ATTRIBUTE_PREFIX = "attr."
LINE_ERRORS = (ValueError, ValidationError, RecursionError, OverflowError)


async def numbered_lines(
    chunks: AsyncIterator[bytes], *, max_body: int = MAX_BODY
) -> AsyncIterator[tuple[int, bytes | None]]:
    """The body's numbered lines (`shared.lines`), at most `MAX_BODY` bytes of it."""
    async for item in read_lines(chunks, max_body=max_body):
        yield item


def error_text(exc: Exception) -> str:
    """A line's error, never echoing its content (personal data)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, OverflowError):
        return "a number out of range"
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    return str(exc)[:300]


def csv_line(header: list[str], fields: list[str]) -> ImportLine:
    """An upsert from a CSV record: empty cells are absent; `tags` split on `;`; `attr.<name>` columns."""
    body: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    handle: dict[str, str] = {}
    for name, raw in zip(header, fields, strict=True):
        value = raw.strip()
        if not value:
            continue
        if name.startswith(ATTRIBUTE_PREFIX):
            attributes[name[len(ATTRIBUTE_PREFIX) :]] = value
        elif name == "tags":
            body["tags"] = [tag for tag in (t.strip() for t in value.split(";")) if tag]
        elif name in ("handle_platform", "handle"):
            handle["platform" if name == "handle_platform" else "handle"] = value
        elif name in CSV_COLUMNS:
            body[name] = value
    if handle:
        body["handles"] = [handle]
    if attributes:
        body["attributes"] = attributes
    return ImportLine.model_validate(body)


def check_header(header: list[str]) -> str | None:
    """What is wrong with a CSV header, or None."""
    missing = REQUIRED_COLUMNS - set(header)
    if missing:
        return f"The CSV header lacks the columns: {', '.join(sorted(missing))}."
    unknown = [n for n in header if n not in CSV_COLUMNS and not n.startswith(ATTRIBUTE_PREFIX)]
    if unknown:
        return f"Unknown CSV columns: {', '.join(unknown[:10])} (attributes are `attr.<name>`)."
    return None


def parse_header(raw: bytes) -> list[str]:
    """The CSV header's column names (lower-cased), from the first line."""
    line = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    return [f.strip().lower() for f in next(csv.reader([line]))]


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class _Importer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, tenant_id: str) -> None:
        self.sessions = sessions
        self.tenant_id = tenant_id
        self.report = ImportReport()
        self.batch: list[tuple[int, ImportLine]] = []
        self.listed = 0

    def reject(self, line: int, error: str) -> bytes:
        self.report.failed += 1
        self.listed += 1
        if self.listed <= MAX_LISTED_ERRORS:
            return _line({"line": line, "error": error})
        if self.listed == MAX_LISTED_ERRORS + 1:
            return _line({"note": f"more than {MAX_LISTED_ERRORS} failed lines: the rest are only counted"})
        return b""

    async def flush(self) -> bytes:
        """Store the batch (one transaction), a line at a time if the transaction fails; the progress."""
        if not self.batch:
            return b""
        lines, self.batch = self.batch, []
        out = bytearray()
        async with self.sessions() as session:
            try:
                lookup = await Lookup.fetch(
                    session,
                    tenant_id=self.tenant_id,
                    lines=[(item.system, item.external_id, item) for _, item in lines],
                )
                outcomes = [await self._upsert(session, item, lookup) for _, item in lines]
                await lookup.finish(session)
                await session.commit()
            except IntegrityError:
                # Someone else created one of these meanwhile: store this chunk line by line instead.
                await session.rollback()
                outcomes = []
                for number, item in lines:
                    try:
                        outcomes.append(await self._upsert(session, item, None))
                        await session.commit()
                    except IntegrityError:
                        await session.rollback()
                        out += self.reject(number, "changed concurrently by another request; send it again")
        for outcome in outcomes:
            setattr(self.report, outcome, getattr(self.report, outcome) + 1)
        out += _line({"progress": self.report.model_dump()})
        return bytes(out)

    async def _upsert(self, session: AsyncSession, item: ImportLine, lookup: Lookup | None) -> str:
        upserted = await upsert_partner_profile(
            session,
            tenant_id=self.tenant_id,
            system=item.system,
            external_id=item.external_id,
            body=item,
            lookup=lookup,
        )
        return upserted.outcome


async def import_profiles(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    lines: AsyncIterator[tuple[int, bytes | None]],
    fmt: Format,
    header: list[str] | None = None,
) -> AsyncIterator[bytes]:
    """Read `lines` (from `numbered_lines`; for CSV, after the `header` line), upsert the good ones in
    chunks, and yield the NDJSON report as it goes."""
    importer = _Importer(sessions, tenant_id=tenant_id)
    pending: list[str] = []  # physical lines of a CSV record still inside quotes
    pending_start = 0
    try:
        async for number, raw in lines:
            importer.report.lines = number
            if raw is None:
                yield importer.reject(number, f"line longer than {MAX_LINE} bytes")
                pending = []
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield importer.reject(number, "not UTF-8")
                pending = []
                continue
            if fmt == "jsonl":
                if not text.strip():
                    continue
                try:
                    item = ImportLine.model_validate(json.loads(text))
                except LINE_ERRORS as exc:
                    yield importer.reject(number, error_text(exc))
                    continue
                importer.batch.append((number, item))
            else:
                assert header is not None
                if not pending:
                    pending_start = number
                    if not text.strip():
                        continue
                pending.append(text)
                record = "\n".join(pending)
                if record.count('"') % 2:
                    continue
                pending = []
                try:
                    fields = next(csv.reader([record]))
                except (csv.Error, StopIteration) as exc:
                    yield importer.reject(pending_start, f"bad CSV: {exc}")
                    continue
                if len(fields) != len(header):
                    yield importer.reject(
                        pending_start, f"expected {len(header)} fields, found {len(fields)}"
                    )
                    continue
                try:
                    item = csv_line(header, fields)
                except LINE_ERRORS as exc:
                    yield importer.reject(pending_start, error_text(exc))
                    continue
                importer.batch.append((pending_start, item))
            if len(importer.batch) >= CHUNK:
                yield await importer.flush()
    except BodyTooLarge:
        yield await importer.flush()
        yield _line(
            {
                "error": f"the body is larger than {MAX_BODY} bytes: nothing after this was read",
                "line": importer.report.lines + 1,
            }
        )
        log.info("import.too_large", extra={"tenant_id": tenant_id, "lines": importer.report.lines})
    else:
        if pending:
            yield importer.reject(pending_start, "unterminated quoted field")
        yield await importer.flush()
    yield _line({"summary": importer.report.model_dump()})
    log.info(
        "import.done",
        extra={
            "tenant_id": tenant_id,
            "lines": importer.report.lines,
            "profiles_created": importer.report.created,
            "profiles_updated": importer.report.updated,
            "profiles_unchanged": importer.report.unchanged,
            "lines_failed": importer.report.failed,
        },
    )
