"""Every error the test suite provokes must be declared for its operation in the merged OpenAPI document.

The gateway clients of `tests/conftest.py` (`client`, and `accounts` on identity itself) report every
answer they get to `RESPONSES`; at the end of the session each 4xx and 5xx is matched to its operation
(method and path template) and the run fails, listing them, if its status is not declared there. An
answer whose path and method match no operation (a probe of a route that does not exist) is outside the
contract and not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _pattern(template: str) -> re.Pattern[str]:
    """`/v1/profiles/{profile_id}` → a pattern where each parameter is one path segment."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts))


@dataclass
class Operations:
    """The operations of an OpenAPI document, found by method and concrete path."""

    doc: dict[str, Any]
    templates: list[tuple[re.Pattern[str], str]] = field(init=False)

    def __post_init__(self) -> None:
        paths = sorted(self.doc["paths"], key=lambda p: (p.count("{"), p))  # literal segments win
        self.templates = [(_pattern(p), p) for p in paths]

    def find(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """(path template, operation) answering `method path`, or None."""
        method = "get" if method.lower() == "head" else method.lower()
        for pattern, template in self.templates:
            if pattern.fullmatch(path):
                operation = self.doc["paths"][template].get(method)
                if isinstance(operation, dict):
                    return template, operation
        return None


@dataclass
class ResponseLog:
    """The error answers the suite's clients received, and the document they are checked against."""

    errors: set[tuple[str, str, int]] = field(default_factory=set)
    doc: dict[str, Any] | None = None
    doc_error: str | None = None

    def record(self, response: httpx.Response) -> None:
        """An httpx `response` event hook."""
        if response.status_code >= 400:
            path = response.request.url.raw_path.split(b"?", 1)[0].decode("ascii")
            self.errors.add((response.request.method, path, response.status_code))

    def load(self, gateway_url: str) -> None:
        """Fetch the merged document once (while the stack runs)."""
        if self.doc is not None:
            return
        try:
            answer = httpx.get(f"{gateway_url}/openapi.json", timeout=30)
            answer.raise_for_status()
            self.doc = answer.json()
        except httpx.HTTPError as exc:
            self.doc_error = f"the merged OpenAPI document could not be read: {exc!r}"

    def undeclared(self) -> list[str]:
        """`METHOD template -> status` for every error answer whose status its operation does not declare."""
        if not self.errors:
            return []
        if self.doc is None:
            return [self.doc_error or "the merged OpenAPI document was never read"]
        operations = Operations(self.doc)
        found = set()
        for method, path, status in self.errors:
            match = operations.find(method, path)
            if match is not None and str(status) not in match[1].get("responses", {}):
                found.add(f"{method} {match[0]} ({match[1].get('operationId')}) -> {status}")
        return sorted(found)


RESPONSES = ResponseLog()
