"""Routes of partners' data: orders, the upsert of a customer by the partner's id, and bulk import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.profiles.consent_api import RedisDep
from services.profiles.consent_schemas import PartnerProfileUpsert
from services.profiles.errors import ImportTooLarge, UnsupportedImportType
from services.profiles.logic import consent
from services.profiles.logic.crm_sync import sync_partner_profile
from services.profiles.logic.importing import (
    CSV_COLUMNS,
    MAX_BODY,
    Format,
    check_header,
    import_profiles,
    numbered_lines,
    parse_header,
)
from services.profiles.logic.orders import list_orders, post_order
from services.profiles.logic.profiles import get_profile
from services.profiles.schemas import (
    SYSTEM_PATTERN,
    OrderCreate,
    OrderPage,
    OrderRead,
    ProfileRead,
)
from shared.auth import INGEST, STAFF, Principal, require_roles
from shared.errors import Unprocessable
from shared.lines import BodyTooLarge
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.reads import SessionReader
from shared.service import ReaderDep, Runtime, SessionDep
from shared.settings import Settings

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Ingester = Annotated[Principal, Depends(require_roles(*INGEST))]
System = Annotated[
    str, Path(pattern=SYSTEM_PATTERN, description="The partner's system (`shopify`, `hubspot`).")
]
ExternalIdPath = Annotated[
    str, Path(min_length=1, max_length=200, description="The partner's id of the customer.")
]

IMPORT_TYPES: dict[str, Format] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "text/csv": "csv",
}


class NdjsonStream(StreamingResponse):
    """A streamed NDJSON answer sent while the request body is still being read.

    Starlette's `StreamingResponse` listens for the client's disconnect by reading the request's messages
    itself (ASGI spec < 2.4), which would take the body away from the import reading it."""

    media_type = "application/x-ndjson"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            if chunk:
                data = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@router.post(
    "/import",
    operation_id="create_profile_import",
    summary="Import customers from a file",
    response_class=NdjsonStream,
    responses={
        **problems(413, 415),
        200: {
            "description": "A JSON line per refused input line (`line`, `error`), progress lines and a "
            "last `summary` line (created, updated, unchanged, failed, lines).",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "ProfileUpsert + system + external_id per line",
                    }
                },
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "columns: "
                        + ", ".join(CSV_COLUMNS)
                        + " and attr.<name>; tags `;`-separated",
                    }
                },
            },
        }
    },
)
async def import_file(request: Request, principal: Ingester) -> Response:
    """Upsert a partner's customers from CSV or JSON Lines (at most 50 MB), streamed both ways."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = IMPORT_TYPES.get(media)
    if fmt is None:
        raise UnsupportedImportType("Send application/x-ndjson (JSON Lines) or text/csv.")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise ImportTooLarge(f"An import is at most {MAX_BODY} bytes.")
    lines = numbered_lines(request.stream())
    try:
        first = await anext(lines, None)
    except BodyTooLarge:
        raise ImportTooLarge(f"An import is at most {MAX_BODY} bytes.") from None
    if first is None:
        raise Unprocessable("The body is empty.")
    header: list[str] | None = None
    if fmt == "csv":
        try:
            header = parse_header(first[1] or b"")
        except (UnicodeDecodeError, StopIteration):
            raise Unprocessable("The CSV header is not readable.", columns=list(CSV_COLUMNS)) from None
        problem = check_header(header)
        if problem is not None:
            raise Unprocessable(problem, columns=list(CSV_COLUMNS))

    async def rest() -> AsyncIterator[tuple[int, bytes | None]]:
        if fmt == "jsonl":
            yield first
        async for item in lines:
            yield item

    rt: Runtime[Settings] = request.app.state.runtime
    return NdjsonStream(
        import_profiles(rt.sessions, tenant_id=principal.tenant_id, lines=rest(), fmt=fmt, header=header)
    )


@router.put(
    "/by-external-id/{system}/{external_id}",
    response_model=ProfileRead,
    operation_id="update_profile_by_external_id",
    summary="Create or update a partner's customer",
    responses={**problems(), 201: {"model": ProfileRead, "description": "A new profile was created."}},
)
async def put_by_external_id(
    system: System,
    external_id: ExternalIdPath,
    body: PartnerProfileUpsert,
    principal: Ingester,
    session: SessionDep,
    redis: RedisDep,
    response: Response,
) -> ProfileRead:
    """Upsert the customer the partner's system knows as `external_id`: 201 when new, 200 otherwise
    (unchanged when it holds this already). An e-mail, phone, website or handle of another profile
    is not moved: the two are suggested as a match for an agent to merge. `consents` the partner's CRM
    holds are recorded in the consent ledger (source `partner`, with their evidence) where they change
    the person's state, and are in force once this answers."""
    entries = [
        consent.Entry(
            kind="consent",
            purpose=purpose,
            status=given.status,
            source="partner",
            evidence={**given.evidence, "system": system, "external_id": external_id},
        )
        for purpose, given in body.consents.items()
    ]
    upserted = await sync_partner_profile(
        session,
        tenant_id=principal.tenant_id,
        system=system,
        external_id=external_id,
        body=body,
        consents=entries,
    )
    if entries:
        states = await consent.current_states(session, principal.tenant_id, [upserted.profile_id])
        await session.commit()
        await consent.project_or_unavailable(redis, principal.tenant_id, states)
    response.status_code = 201 if upserted.outcome == "created" else 200
    return await get_profile(
        SessionReader(session), tenant_id=principal.tenant_id, profile_id=upserted.profile_id
    )


@router.post(
    "/by-external-id/{system}/{external_id}/orders",
    response_model=OrderRead,
    operation_id="create_order_by_external_id",
    summary="Post an order of a partner's customer",
    responses={**problems(404, 409), 201: {"model": OrderRead, "description": "A new order."}},
)
async def post_order_by_external_id(
    system: System,
    external_id: ExternalIdPath,
    order_in: OrderCreate,
    principal: Ingester,
    session: SessionDep,
    response: Response,
) -> OrderRead:
    """Post an order for the customer the partner knows as `external_id` (see `create_order`)."""
    order, created = await post_order(
        session, tenant_id=principal.tenant_id, order_in=order_in, external=(system, external_id)
    )
    response.status_code = 201 if created else 200
    return order


@router.post(
    "/{profile_id}/orders",
    response_model=OrderRead,
    operation_id="create_order",
    summary="Post an order",
    responses={**problems(404, 409), 201: {"model": OrderRead, "description": "A new order."}},
)
async def post_profile_order(
    profile_id: str, order_in: OrderCreate, principal: Ingester, session: SessionDep, response: Response
) -> OrderRead:
    """Post a customer's order: 201 when new; the same order again answers 200 with the stored one and
    changes nothing; the same `order_id` with other content is a 409. It counts into the lifetime value
    and makes the profile a customer; a merged-away profile's order lands on the survivor."""
    order, created = await post_order(
        session, tenant_id=principal.tenant_id, order_in=order_in, profile_id=profile_id
    )
    response.status_code = 201 if created else 200
    return order


@router.get(
    "/{profile_id}/orders",
    response_model=OrderPage,
    operation_id="list_orders",
    summary="List a profile's orders",
    responses=problems(404),
)
async def get_profile_orders(
    profile_id: str,
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> OrderPage:
    """A profile's orders (its survivor's, when merged away), the latest posted first."""
    return await list_orders(
        reader, tenant_id=principal.tenant_id, profile_id=profile_id, limit=limit, cursor=cursor
    )
