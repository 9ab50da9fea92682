"""The routing table: path prefix → upstream service, and per method the roles it admits (or public)
and the scope an API key's token needs (`shared/scopes.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.auth import ADMINS, INGEST, ROLES, STAFF
from shared.scopes import NO_KEYS, Access, access_for

READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths under these prefixes are proxied; everything else is the gateway's own (health, docs).
PROXIED_PREFIXES = ("/v1/", "/.well-known/")


@dataclass(frozen=True)
class Route:
    """One entry: `prefix` matches itself and anything below it (`/v1/profiles`, `/v1/profiles/…`).

    `methods=None` matches every method; `roles=None` means public (no token needed, limited per IP).
    With `exact=True` only the prefix itself matches.
    """

    prefix: str
    service: str
    roles: frozenset[str] | None
    methods: frozenset[str] | None = None
    exact: bool = False
    # A larger request body than the gateway's default (bulk import); such bodies are streamed through.
    max_body: int | None = None
    # Longest wait for the service's answer when longer than the gateway's default (a bulk import answers
    # once the whole file is stored).
    timeout_s: float | None = None
    # The budget a public route draws on (per client IP, and for `webhook` per channel too): `login`,
    # `signup`, `refresh`, `jwks` (answered from the gateway's cache), `webhook` or `public`.
    limit_class: str = "public"
    # Only `{prefix}/{one segment}{suffix}` (`/v1/profiles/{id}/orders` with `/orders`).
    suffix: str | None = None
    # The scope a key's token needs here, for reads and for writes (`NO_KEYS`: none may).
    access: Access = NO_KEYS
    # A GET here may carry a single-use `ticket` instead of a bearer token (`gateway/tickets.py`).
    tickets: bool = False
    # The gateway answers this route itself with a ticket opening that path (`gateway/tickets.py`).
    ticket_for: str | None = None

    @property
    def public(self) -> bool:
        """No token needed (limited per client IP instead of per tenant)."""
        return self.roles is None

    def scope_for(self, method: str) -> str | None:
        """The scope a key's token needs for this method (None: no key's token is admitted)."""
        return self.access.scope_for(method)

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.suffix is not None:
            # Exactly one segment between: `{prefix}/{id}{suffix}`.
            if not (path.startswith(self.prefix + "/") and path.endswith(self.suffix)):
                return False
            middle = path[len(self.prefix) + 1 : len(path) - len(self.suffix)]
            return bool(middle) and "/" not in middle
        if path == self.prefix:
            return True
        return not self.exact and path.startswith(self.prefix) and path[len(self.prefix)] == "/"


def _route(
    prefix: str,
    service: str,
    roles: Iterable[str] | None,
    methods: Iterable[str] | None = None,
    *,
    exact: bool = False,
    max_body: int | None = None,
    timeout_s: float | None = None,
    limit_class: str = "public",
    suffix: str | None = None,
    tickets: bool = False,
    ticket_for: str | None = None,
) -> Route:
    return Route(
        prefix=prefix,
        service=service,
        roles=None if roles is None else frozenset(roles),
        methods=None if methods is None else frozenset(methods),
        exact=exact,
        max_body=max_body,
        timeout_s=timeout_s,
        limit_class=limit_class,
        suffix=suffix,
        tickets=tickets,
        ticket_for=ticket_for,
        # What a key's token needs here: the one table the services check too.
        access=access_for(prefix),
    )


PUBLIC = None
# Bulk import files (JSON Lines / CSV) stream through the gateway up to this size.
IMPORT_MAX_BODY = 256 * 1024 * 1024
IMPORT_TIMEOUT_S = 3600.0
# `POST /v1/profiles/import`: a partner's customers (profiles refuses more itself).
PROFILE_IMPORT_MAX_BODY = 50 * 1024 * 1024
# `POST /v1/mentions/batch`: up to 500 posts of up to 10,000 characters.
BATCH_MAX_BODY = 16 * 1024 * 1024
EVERYONE = ROLES
CONVERSATION_STREAM = "/v1/conversations/stream"

# Order inside one prefix matters: the first matching entry wins, so method-specific entries come first.
ROUTES: tuple[Route, ...] = (
    _route("/.well-known/jwks.json", "identity", PUBLIC, {"GET", "HEAD"}, exact=True, limit_class="jwks"),
    _route("/v1/tenants", "identity", PUBLIC, {"POST"}, exact=True, limit_class="signup"),
    _route("/v1/tenants", "identity", ADMINS),
    _route("/v1/auth/token", "identity", PUBLIC, {"POST"}, exact=True, limit_class="login"),
    _route("/v1/auth/refresh", "identity", PUBLIC, {"POST"}, exact=True, limit_class="refresh"),
    _route("/v1/auth", "identity", EVERYONE),
    _route("/v1/me", "identity", EVERYONE),
    _route("/v1/users", "identity", ADMINS),
    _route("/v1/api-keys", "identity", EVERYONE),
    _route(
        "/v1/mentions/import",
        "listening",
        INGEST,
        {"POST"},
        exact=True,
        max_body=IMPORT_MAX_BODY,
        timeout_s=IMPORT_TIMEOUT_S,
    ),
    _route(
        "/v1/mentions/batch",
        "listening",
        INGEST,
        {"POST"},
        exact=True,
        max_body=BATCH_MAX_BODY,
    ),
    _route("/v1/mentions", "listening", STAFF, READS),
    _route("/v1/mentions", "listening", INGEST),
    _route("/v1/listening/queries", "listening", STAFF, READS),
    _route("/v1/listening/queries", "listening", ("owner", "admin", "analyst")),
    _route("/v1/listening/alerts", "listening", STAFF, READS),
    _route("/v1/listening/share-of-voice", "listening", STAFF, READS, exact=True),
    _route("/v1/listening/usage", "listening", ADMINS, READS, exact=True),
    _route("/v1/channels", "listening", ADMINS),
    _route("/v1/own-accounts", "listening", ADMINS),
    # Platform webhooks: public (the platform's own signature is verified by listening), limited per
    # channel (`/v1/inbound/{platform}/{channel_id}`) and, generously, per IP.
    _route("/v1/inbound", "listening", PUBLIC, {"GET", "POST"}, limit_class="webhook"),
    _route(
        "/v1/profiles/import",
        "profiles",
        INGEST,
        {"POST"},
        exact=True,
        max_body=PROFILE_IMPORT_MAX_BODY,
        timeout_s=IMPORT_TIMEOUT_S,
    ),
    # Partners (the integration role) upsert customers and post orders; the service checks each route.
    _route("/v1/profiles/by-external-id", "profiles", INGEST, {"PUT", "POST"}),
    _route("/v1/profiles", "profiles", INGEST, {"POST"}, suffix="/orders"),
    _route("/v1/profiles", "profiles", STAFF),
    _route("/v1/profile-attributes", "profiles", STAFF),
    _route("/v1/segments", "profiles", STAFF),
    # A person's export and erasure requests (profiles keeps them): owners and admins, no API keys.
    _route("/v1/privacy/exports", "profiles", ADMINS),
    _route("/v1/privacy/erasures", "profiles", ADMINS),
    # The policy, the audit log and the processing records (profiles checks each route's roles).
    _route("/v1/privacy", "profiles", STAFF),
    # The live inbox (Server-Sent Events): a browser's `EventSource` opens it with a ticket.
    _route(
        "/v1/conversations/stream/tickets",
        "engagement",
        STAFF,
        {"POST"},
        exact=True,
        ticket_for=CONVERSATION_STREAM,
    ),
    _route("/v1/conversations/stream", "engagement", STAFF, READS, exact=True, tickets=True),
    _route("/v1/conversations", "engagement", STAFF),
    _route("/v1/webhooks", "engagement", ADMINS),
    _route("/v1/agents", "engagement", STAFF, READS),
    _route("/v1/sla-policies", "engagement", STAFF, READS),
    _route("/v1/sla-policies", "engagement", ADMINS),
    _route("/v1/routing/dry-run", "engagement", STAFF, {"POST"}, exact=True),
    _route("/v1/routing", "engagement", STAFF, READS),
    _route("/v1/routing", "engagement", ADMINS),
    _route("/v1/canned-responses", "engagement", STAFF),
    # Presence (agents themselves) and capacity (admins): the service checks each route's roles.
    _route("/v1/agents", "engagement", ("owner", "admin", "agent")),
    _route("/v1/teams", "engagement", STAFF, READS),
    _route("/v1/teams", "engagement", ADMINS),
    _route("/v1/metrics", "metrics", STAFF),
    _route("/v1/survey-settings", "engagement", STAFF, READS),
    _route("/v1/survey-settings", "engagement", ADMINS),
    _route("/v1/consent-keywords", "engagement", STAFF, READS),
    _route("/v1/consent-keywords", "engagement", ADMINS),
    # A survey's link: public (its token is the key), limited per client IP like other public routes.
    _route("/v1/surveys", "engagement", PUBLIC, {"GET", "POST"}),
)


def _group(path: str) -> str:
    """The first two path segments (`/v1/profiles/7/timeline` → `/v1/profiles`): the lookup key."""
    second = path.find("/", 1)
    if second < 0:
        return path
    third = path.find("/", second + 1)
    return path if third < 0 else path[:third]


class RouteTable:
    """Finds the route of a request in a dict lookup plus a few prefix checks."""

    def __init__(self, routes: Iterable[Route] = ROUTES) -> None:
        self.routes = tuple(routes)
        self._groups: dict[str, list[Route]] = {}
        for route in self.routes:
            self._groups.setdefault(_group(route.prefix), []).append(route)

    def match(self, method: str, path: str) -> Route | None:
        """The first route admitting this method and path, or None (→ 404)."""
        for route in self._groups.get(_group(path), ()):
            if route.matches(method, path):
                return route
        return None

    def services(self) -> set[str]:
        """The services the table routes to."""
        return {route.service for route in self.routes}


def webhook_channel(path: str) -> str:
    """The channel part of an inbound webhook path (`/v1/inbound/x/42/…` → `x/42`), bounded in length."""
    parts = path[len("/v1/inbound/") :].split("/", 2)
    return "/".join(parts[:2])[:200]
