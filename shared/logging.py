"""Structured JSON logs: an event name plus ids as fields, never bodies, handles, e-mails or tokens."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
# The tenant whose request or event this task is working on: an id, never a name, handle or e-mail.
_TENANT: ContextVar[str | None] = ContextVar("rapport_tenant", default=None)


def set_tenant(tenant_id: str) -> None:
    """Name the tenant of the request being handled in this task's logs (its authentication knows it)."""
    _TENANT.set(tenant_id)


@contextlib.contextmanager
def tenant_scope(tenant_id: str | None) -> Iterator[None]:
    """Name `tenant_id` (None: no tenant) in the logs written within (an event being handled)."""
    token = _TENANT.set(tenant_id)
    try:
        yield
    finally:
        _TENANT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current trace id and tenant id when there are some."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "event": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            out["trace_id"] = format(ctx.trace_id, "032x")
        tenant_id = _TENANT.get()
        if tenant_id is not None:
            out["tenant_id"] = tenant_id
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's) through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access logs would cost throughput and print URLs that can carry handles; request ids are enough.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outgoing request's full URL at INFO: platform URLs carry post ids and signed
    # query parameters (appsecret_proof). Its warnings still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)
