"""metrics' routes: the scorecard, a metric's time series, and a metric's drill-down rows (JSON or CSV)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from services.metrics.logic import card
from services.metrics.schemas import DEFINITIONS, RowPage, Scorecard, Series, SeriesPoint
from services.metrics.settings import MetricsSettings
from shared.auth import STAFF, Principal, require_roles
from shared.errors import BadRequest, Unprocessable
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep
from shared.validation import UtcInstant, ensure_ordered

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
Currency = Annotated[str, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of the CLV.")]
MAX_POINTS = 1000


async def filters(
    request: Request,
    from_: Annotated[UtcInstant | None, Query(alias="from", description=DEFINITIONS["period"])] = None,
    to: Annotated[
        UtcInstant | None, Query(description="End of the period (exclusive); now by default.")
    ] = None,
    channel: Annotated[str | None, Query(max_length=64, description="The tenant's channel id.")] = None,
    platform: Annotated[
        str | None, Query(max_length=64, description="The platform (x, instagram, ...).")
    ] = None,
    team: Annotated[str | None, Query(max_length=64, description="Conversations of this team.")] = None,
    agent: Annotated[
        str | None, Query(max_length=64, description="Conversations and answers of this agent.")
    ] = None,
    language: Annotated[str | None, Query(max_length=16, description="The mention's language.")] = None,
    query: Annotated[
        str | None, Query(max_length=64, description="Mentions matching this listening query.")
    ] = None,
    currency: Currency | None = None,
) -> card.Filters:
    """The period and filters of a request (each applies to the figures it can: see docs/metrics.md)."""
    settings: MetricsSettings = request.app.state.runtime.settings
    upper = card.now_or(to)
    ensure_ordered(from_, upper, names=("from", "to"))
    return card.Filters(
        from_=from_,
        to=upper,
        channel=channel,
        platform=platform,
        team=team,
        agent=agent,
        language=language,
        query=query,
        currency=currency or settings.metrics_currency,
        conversion_days=settings.conversion_window_days,
    )


FiltersDep = Annotated[card.Filters, Depends(filters)]


@router.get(
    "/scorecard",
    response_model=Scorecard,
    operation_id="get_scorecard",
    summary="Get the scorecard",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_scorecard(
    request: Request,
    principal: StaffDep,
    reader: ReaderDep,
    f: FiltersDep,
    format: Annotated[
        Literal["json", "csv"], Query(description="`csv`: one line per figure (`metric,value`).")
    ] = "json",
) -> Scorecard | StreamingResponse:
    """The tenant's Social CRM scorecard over [from, to): listening (mentions, net sentiment, share of
    voice, alerts), care (first response and resolution times, SLA compliance, backlog, reopen rate) and
    customer figures (CSAT, NPS, social conversion, retention, CLV). Definitions: docs/metrics.md.

    With `format=csv` (or `Accept: text/csv`) the same figures as CSV, one line per figure named by its
    path in the JSON answer (`care.sla.compliance`, `customer.clv.by_stage.customer.mean`)."""
    async with reader.consistent() as snapshot:
        scorecard = await card.scorecard(snapshot, principal.tenant_id, f)
    if _wants_csv(request, format):
        rows = [{"metric": path, "value": value} for path, value in _figures("", scorecard.model_dump())]
        return _csv_answer(rows, ("metric", "value"), "scorecard.csv")
    return scorecard


def _figures(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Every figure of a JSON answer with its dotted path, in the answer's order."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _figures(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _figures(f"{prefix}.{i}", inner)
    else:
        yield prefix, value


SeriesMetric = Annotated[
    str,
    Query(
        pattern=f"^({'|'.join(card.SERIES)})$",
        description="The metric (default `mentions`): " + ", ".join(card.SERIES) + ".",
    ),
]


@router.get("/timeseries", response_model=Series, operation_id="get_timeseries", summary="Get a time series")
async def get_timeseries(
    principal: StaffDep,
    reader: ReaderDep,
    f: FiltersDep,
    metric: SeriesMetric = "mentions",
    interval: Annotated[Literal["hour", "day", "week"], Query(description="UTC buckets.")] = "day",
) -> Series:
    """One metric per hour, day or week of the period (default: the last 48 hours, 30 days or 26 weeks);
    each point is the metric over its bucket alone, as the scorecard of that bucket would give it."""
    step = card.INTERVALS[interval]
    default_span = {"hour": timedelta(hours=48), "day": timedelta(days=30), "week": timedelta(weeks=26)}
    if f.from_ is None:
        f = replace(f, from_=card.bucket_start(f.to - default_span[interval], interval))
    assert f.from_ is not None
    if (f.to - f.from_) / step > MAX_POINTS:
        raise Unprocessable(f"At most {MAX_POINTS} points: choose a shorter period or a longer interval.")
    async with reader.consistent() as snapshot:
        points = await card.series(snapshot, principal.tenant_id, str(metric), interval, f)
    return Series(
        metric=str(metric),
        interval=interval,
        from_=card.bucket_start(f.from_, interval),
        to=f.to,
        points=[SeriesPoint(start=start, value=value) for start, value in points],
    )


RowsMetric = Annotated[
    str,
    Query(
        pattern=f"^({'|'.join(card.ROWS)})$",
        description="The metric (default `mentions`): " + ", ".join(card.ROWS) + ".",
    ),
]


def _cursor(key: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _after(cursor: str) -> list[str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except Exception:
        raise BadRequest("The cursor is not valid.") from None
    if not (isinstance(key, list) and len(key) == 3 and all(isinstance(k, str) for k in key)):
        raise BadRequest("The cursor is not valid.")
    return key


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _wants_csv(request: Request, format: str) -> bool:
    return format == "csv" or request.headers.get("accept", "").startswith("text/csv")


def _csv_answer(rows: list[dict[str, Any]], columns: tuple[str, ...], filename: str) -> StreamingResponse:
    """`rows` as a CSV download (a header row, then a line per row)."""
    return StreamingResponse(
        _csv(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/rows",
    response_model=RowPage,
    operation_id="get_metric_rows",
    summary="Get a metric's rows",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_rows(
    request: Request,
    principal: StaffDep,
    reader: ReaderDep,
    f: FiltersDep,
    metric: RowsMetric = "mentions",
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
    format: Annotated[Literal["json", "csv"], Query(description="`csv`: every row, as CSV.")] = "json",
) -> RowPage | StreamingResponse:
    """The rows a metric is computed from, with the same period and filters as the scorecard (a metric
    equals what its rows add up to): a page in time then id order, or with `format=csv` (or `Accept:
    text/csv`) every row from the cursor on, as CSV with a header row."""
    name = str(metric)
    rows = await card.rows_of(reader, principal.tenant_id, name, f)
    if cursor:
        after = _after(cursor)
        rows = [r for r in rows if card.row_key(r, name) > after]
    if _wants_csv(request, format):
        return _csv_answer(rows, card.ROWS[name].columns, f"metric-{name}.csv")
    page = rows[:limit]
    next_cursor = _cursor(card.row_key(page[-1], name)) if len(rows) > limit else None
    return RowPage(
        metric=name, items=[{k: _cell(v) for k, v in r.items()} for r in page], next_cursor=next_cursor
    )
