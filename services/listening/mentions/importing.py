"""Bulk import of mentions from JSON Lines or CSV, read as a stream (never loaded whole).

Every line is checked on its own: a bad one is reported with its line number (the first
`MAX_LISTED_ERRORS`, plus the total) and the good ones are kept. Lines are stored in batches of
`BATCH` in one transaction each, through `ingest_mention` (so duplicates, in the file or already
stored, are counted and skipped). CSV records may span lines inside quotes; a record's number is the
line it starts on (the header is line 1).

Each stored line counts against the tenant's hourly ingest quota (`usage.quotas`), in the batch's
transaction. A file sent when the quota is used up is refused (429); when it runs out mid-file the lines
that fit are stored and the import stops at the first line that did not (`stopped_at_line`).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.listening.channels.connectors import PayloadError, parse_review_row
from services.listening.channels.inbound import mention_create
from services.listening.mentions.logic import ingest_mention
from services.listening.mentions.schemas import ImportError_, ImportSummary, MentionCreate
from services.listening.usage.quotas import IngestQuota
from services.listening.wakeups import Wakeups
from shared.errors import Unprocessable
from shared.lines import MAX_LINE, numbered_lines

log = logging.getLogger("rapport.listening.import")

Format = Literal["jsonl", "csv"]
BATCH = 500
MAX_LISTED_ERRORS = 100
MENTION_COLUMNS = (
    "platform",
    "external_id",
    "text",
    "created_at",
    "url",
    "author_handle",
    "author_display_name",
    "author_followers",
    "in_reply_to",
    "rating",
)
REQUIRED_COLUMNS = {"platform", "external_id", "text", "created_at", "author_handle"}
REVIEW_COLUMNS = {"source", "review_id", "rating", "text"}


# What a line's content can raise while it is parsed and validated (json.JSONDecodeError and pydantic's
# ValidationError are ValueErrors): nesting deeper than the parser's recursion limit, numbers too big
# for a date or a count. Each is that line's error; the import goes on.
LINE_ERRORS = (ValueError, ValidationError, PayloadError, RecursionError, OverflowError)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, OverflowError):
        return "a number or date out of range"
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    return str(exc)[:300]


def _csv_mention(row: dict[str, str]) -> MentionCreate:
    def value(name: str) -> str | None:
        raw = row.get(name)
        return raw if raw not in (None, "") else None

    author: dict[str, Any] = {"handle": value("author_handle")}
    if value("author_display_name") is not None:
        author["display_name"] = value("author_display_name")
    if value("author_followers") is not None:
        author["followers"] = value("author_followers")
    body: dict[str, Any] = {
        "platform": value("platform"),
        "external_id": value("external_id"),
        "text": value("text"),
        "created_at": value("created_at"),
        "author": author,
    }
    for name in ("url", "in_reply_to", "rating"):
        if value(name) is not None:
            body[name] = value(name)
    return MentionCreate.model_validate(body)


class _Importer:
    def __init__(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        batch_size: int,
        quota: IngestQuota | None,
        wakeups: Wakeups,
    ) -> None:
        self.session = session
        self.wakeups = wakeups
        self.tenant_id = tenant_id
        self.batch_size = batch_size
        self.quota = quota
        self.summary = ImportSummary()
        self.batch: list[tuple[int, MentionCreate]] = []

    def reject(self, line: int, error: str) -> None:
        self.summary.rejected += 1
        if len(self.summary.errors) < MAX_LISTED_ERRORS:
            self.summary.errors.append(ImportError_(line=line, error=error))

    @property
    def stopped(self) -> bool:
        return self.summary.stopped_at_line is not None

    async def add(self, line: int, mention: MentionCreate) -> None:
        self.batch.append((line, mention))
        if len(self.batch) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        if not self.batch or self.stopped:
            return
        lines, self.batch = self.batch, []
        room = len(lines) if self.quota is None else await self.quota.take(self.tenant_id, len(lines))
        if room < len(lines):
            line = lines[room][0]
            self.summary.stopped_at_line = line
            if len(self.summary.errors) < MAX_LISTED_ERRORS:
                error = "the tenant's hourly ingest quota ran out: this line and the rest were not stored"
                self.summary.errors.append(ImportError_(line=line, error=error))
            log.info("import.quota_exhausted", extra={"tenant_id": self.tenant_id, "line": line})
        batch = [mention for _, mention in lines[:room]]
        if not batch:
            return
        try:
            await self._store(batch)
        finally:
            if self.quota is not None:
                self.quota.release(self.tenant_id, room)

    async def _store(self, batch: list[MentionCreate]) -> None:
        counted = {self.tenant_id: len(batch)}
        try:
            statuses = [
                (
                    await ingest_mention(self.session, tenant_id=self.tenant_id, mention_in=m, commit=False)
                ).status
                for m in batch
            ]
            if self.quota is not None:
                await self.quota.count(self.session, counted)
            await self.session.commit()
        except IntegrityError:
            # Someone else stored one of these meanwhile: store this batch one by one instead.
            await self.session.rollback()
            statuses = [
                (await ingest_mention(self.session, tenant_id=self.tenant_id, mention_in=m)).status
                for m in batch
            ]
            if self.quota is not None:
                await self.quota.count(self.session, counted)
                await self.session.commit()
        # A suppressed author's post is stored too, as an anonymous count.
        accepted = statuses.count("accepted") + statuses.count("suppressed")
        self.summary.accepted += accepted
        self.summary.duplicates += len(statuses) - accepted
        if accepted:
            self.wakeups.analysis.set()


async def import_mentions(
    session: AsyncSession,
    *,
    tenant_id: str,
    chunks: AsyncIterator[bytes],
    fmt: Format,
    wakeups: Wakeups,
    batch_size: int = BATCH,
    quota: IngestQuota | None = None,
) -> ImportSummary:
    """Read the stream line by line, store the good lines in batches, report the bad ones.

    IngestQuotaExceeded (429) before anything is read when the tenant's hourly quota is used up."""
    if quota is not None and await quota.available(tenant_id) == 0:
        raise quota.exceeded(tenant_id, used=quota.limit, posts=1)
    importer = _Importer(session, tenant_id=tenant_id, batch_size=batch_size, quota=quota, wakeups=wakeups)
    header: list[str] | None = None
    reviews = False
    pending: list[str] = []  # physical lines of a CSV record still inside quotes
    pending_start = 0
    last_line = 0
    async for number, raw in numbered_lines(chunks):
        if importer.stopped:
            break
        last_line = number
        if raw is None:
            importer.reject(number, f"line longer than {MAX_LINE} bytes")
            pending = []
            continue
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            importer.reject(number, "not UTF-8")
            pending = []
            continue
        if fmt == "jsonl":
            if not line.strip():
                continue
            try:
                mention = MentionCreate.model_validate(json.loads(line))
            except LINE_ERRORS as exc:
                importer.reject(number, _error_text(exc))
                continue
            await importer.add(number, mention)
            continue
        # CSV: gather physical lines until the quotes balance.
        if not pending:
            pending_start = number
            if not line.strip():
                continue
        pending.append(line)
        record = "\n".join(pending)
        if record.count('"') % 2:
            continue
        pending = []
        try:
            fields = next(csv.reader([record]))
        except (csv.Error, StopIteration) as exc:
            importer.reject(pending_start, f"bad CSV: {exc}")
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            reviews = REVIEW_COLUMNS <= set(header) and "platform" not in header
            missing = (REVIEW_COLUMNS if reviews else REQUIRED_COLUMNS) - set(header)
            if missing:
                raise Unprocessable(
                    f"The CSV header lacks the columns: {', '.join(sorted(missing))}.",
                    columns=list(MENTION_COLUMNS),
                )
            continue
        if len(fields) != len(header):
            importer.reject(pending_start, f"expected {len(header)} fields, found {len(fields)}")
            continue
        row = dict(zip(header, fields, strict=True))
        try:
            mention = mention_create(parse_review_row(row)) if reviews else _csv_mention(row)
        except LINE_ERRORS as exc:
            importer.reject(pending_start, _error_text(exc))
            continue
        await importer.add(pending_start, mention)
    if pending and not importer.stopped:
        importer.reject(pending_start, "unterminated quoted field")
    await importer.flush()
    importer.summary.lines = last_line
    log.info(
        "import.done",
        extra={
            "tenant_id": tenant_id,
            "lines": last_line,
            "accepted": importer.summary.accepted,
            "duplicates": importer.summary.duplicates,
            "rejected": importer.summary.rejected,
        },
    )
    return importer.summary
