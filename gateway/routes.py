"""The routing table: path prefix → upstream service, and per method the roles it admits (or public)
and the scope an API key's token needs (`shared/scopes.py`); and the processing table: per operation,
the purpose it processes personal data for and where the request names the person it acts on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

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
    def template(self) -> str:
        """The entry as a metrics label: its prefix (`{prefix}/{id}{suffix}` with a suffix); never a path."""
        return self.prefix if self.suffix is None else f"{self.prefix}/{{id}}{self.suffix}"

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
    _route("/v1/listening/alerts", "listening", STAFF),
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


# --- processing: what each operation processes personal data for ------------------------------------

PATH = "path:"
BODY = "body:"


@dataclass(frozen=True)
class Processing:
    """One or more operations (`methods` on `template`) and the purpose they process personal data for.

    `purpose` None: exempt (no customer's data, or the consent and privacy routes themselves, which must
    work whatever the person's state). `people`: where the request names the person it acts on,
    `path:<parameter>` or `body:<field>` (a JSON body's top-level string); the gateway checks consent for
    each one it finds. Without `people` nothing is checked here: `note` says who checks, if anyone.
    `declarable`: the purpose a request declares with `?purpose=<it>` is decided instead of `purpose`.
    """

    methods: frozenset[str]
    template: str
    purpose: str | None
    people: tuple[str, ...] = ()
    note: str = ""
    # A purpose the caller may declare instead, with `?purpose=` (reading a person's contact for a
    # campaign is marketing, not profiling): the request is then decided for that purpose.
    declarable: str | None = None
    # Position of each segment that is a parameter, and the literal segments to compare.
    _params: dict[str, int] = field(init=False, repr=False, compare=False)
    _literals: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        segments = self.template.split("/")
        params = {seg[1:-1]: i for i, seg in enumerate(segments) if seg.startswith("{")}
        object.__setattr__(self, "_params", params)
        literals = tuple((i, seg) for i, seg in enumerate(segments) if not seg.startswith("{"))
        object.__setattr__(self, "_literals", literals)
        for where in self.people:
            if where.startswith(PATH) and where[len(PATH) :] not in params:
                raise ValueError(f"{self.template}: no path parameter {where}")
            if not where.startswith((PATH, BODY)):
                raise ValueError(f"{self.template}: a person is named by path: or body:, not {where}")

    def purpose_for(self, query: bytes) -> str | None:
        """The purpose this request is decided for: the declared one when the query declares it."""
        if self.declarable is not None and b"purpose=" in query:
            declared = parse_qs(query.decode("latin-1")).get("purpose")
            if declared == [self.declarable]:
                return self.declarable
        return self.purpose

    @property
    def checked(self) -> bool:
        """The gateway checks consent on these operations."""
        return self.purpose is not None and bool(self.people)

    @property
    def size(self) -> int:
        return self.template.count("/") + 1

    def matches(self, segments: list[str]) -> bool:
        return all(segments[i] == literal for i, literal in self._literals)

    @property
    def reads_body(self) -> bool:
        """A person is named in the body (known once it is read)."""
        return any(where.startswith(BODY) for where in self.people)

    def path_people(self, segments: list[str]) -> list[str]:
        """The profile ids the path names (deduplicated, in declaration order)."""
        found: list[str] = []
        for where in self.people:
            if where.startswith(PATH):
                _named(found, segments[self._params[where[len(PATH) :]]])
        return found

    def body_people(self, body: bytes | None) -> list[str]:
        """The profile ids a JSON body names (one that is not JSON names no one: the service refuses it)."""
        found: list[str] = []
        if not body or not self.reads_body:
            return found
        try:
            parsed = json.loads(body)
        except ValueError:
            return found
        for where in self.people:
            if where.startswith(BODY) and isinstance(parsed, dict):
                _named(found, parsed.get(where[len(BODY) :]))
        return found


def _named(found: list[str], value: object) -> None:
    if isinstance(value, str) and value and len(value) <= 64 and value not in found:
        found.append(value)


def _p(
    methods: str,
    template: str,
    purpose: str | None,
    *people: str,
    note: str = "",
    declarable: str | None = None,
) -> Processing:
    return Processing(frozenset(methods.split()), template, purpose, tuple(people), note, declarable)


EXEMPT = None
ENGAGEMENT, PROFILING, MARKETING, ANALYTICS = "engagement", "profiling", "marketing", "analytics"
PROFILE = PATH + "profile_id"
_ACCOUNTS = "the tenant's own users, keys and settings: no customer's data"
_SETUP = "the tenant's configuration: no customer's data"
_CONVERSATION = "the person is known to engagement only; it checks replies itself"
_PARTNER = "stores what a partner sends (storage is never refused); profiling work on it skips objectors"
_PRIVACY = "the person's own rights (re-granting must work after a withdrawal)"
_OUTREACH = "read for outreach (`?purpose=marketing`): decided for marketing instead of profiling"

# Every operation of the public API, once (a test holds this to the services' OpenAPI documents, and the
# table in docs/privacy.md to this).
PROCESSING: tuple[Processing, ...] = (
    # identity
    _p("GET", "/.well-known/jwks.json", EXEMPT, note="the token keys"),
    _p("POST", "/v1/tenants", EXEMPT, note=_ACCOUNTS),
    _p("POST", "/v1/auth/token", EXEMPT, note=_ACCOUNTS),
    _p("POST", "/v1/auth/refresh", EXEMPT, note=_ACCOUNTS),
    _p("POST", "/v1/auth/logout", EXEMPT, note=_ACCOUNTS),
    _p("GET", "/v1/me", EXEMPT, note=_ACCOUNTS),
    _p("GET POST", "/v1/users", EXEMPT, note=_ACCOUNTS),
    _p("GET PATCH", "/v1/users/{user_id}", EXEMPT, note=_ACCOUNTS),
    _p("GET POST", "/v1/api-keys", EXEMPT, note=_ACCOUNTS),
    _p("GET DELETE", "/v1/api-keys/{key_id}", EXEMPT, note=_ACCOUNTS),
    # listening
    _p("GET POST", "/v1/mentions", ANALYTICS, note="posts, named by no profile"),
    _p("POST", "/v1/mentions/batch", ANALYTICS, note="posts in bulk, named by no profile"),
    _p("POST", "/v1/mentions/import", ANALYTICS, note="posts in bulk, named by no profile"),
    _p("GET", "/v1/mentions/stats", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/mentions/labels", ANALYTICS, note="label corrections"),
    _p("GET", "/v1/mentions/{mention_id}", ANALYTICS, note="a post, named by no profile"),
    _p("POST", "/v1/mentions/{mention_id}/labels", ANALYTICS, note="a label correction"),
    _p("GET POST", "/v1/listening/queries", ANALYTICS, note="aggregates"),
    _p("POST", "/v1/listening/queries/validate", EXEMPT, note=_SETUP),
    _p("GET", "/v1/listening/queries/usage", EXEMPT, note=_SETUP),
    _p("GET PATCH DELETE", "/v1/listening/queries/{query_id}", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/listening/queries/{query_id}/volume", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/listening/share-of-voice", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/listening/alerts", ANALYTICS, note="aggregates"),
    _p("POST", "/v1/listening/alerts/{alert_id}/acknowledge", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/listening/usage", EXEMPT, note=_SETUP),
    _p("GET POST", "/v1/channels", EXEMPT, note=_SETUP),
    _p("GET PATCH DELETE", "/v1/channels/{channel_id}", EXEMPT, note=_SETUP),
    _p("GET POST", "/v1/channels/{channel_id}/templates", EXEMPT, note=_SETUP),
    _p("DELETE", "/v1/channels/{channel_id}/templates/{template_id}", EXEMPT, note=_SETUP),
    _p("GET POST", "/v1/inbound/{platform}/{channel_id}", EXEMPT, note="a platform's deliveries"),
    _p("GET POST", "/v1/own-accounts", EXEMPT, note=_SETUP),
    _p("PATCH DELETE", "/v1/own-accounts/{account_id}", EXEMPT, note=_SETUP),
    # profiles
    _p("POST", "/v1/profiles/import", PROFILING, note=_PARTNER),
    _p("PUT", "/v1/profiles/by-external-id/{system}/{external_id}", PROFILING, note=_PARTNER),
    _p("POST", "/v1/profiles/by-external-id/{system}/{external_id}/orders", PROFILING, note=_PARTNER),
    _p("POST", "/v1/profiles/{profile_id}/orders", PROFILING, note=_PARTNER),
    _p("GET", "/v1/profiles/{profile_id}/orders", PROFILING, PROFILE),
    _p("GET", "/v1/profiles", PROFILING, note="a list: each person's own routes are checked"),
    _p("GET", "/v1/profiles/{profile_id}", PROFILING, PROFILE, note=_OUTREACH, declarable=MARKETING),
    _p("PATCH", "/v1/profiles/{profile_id}", PROFILING, PROFILE),
    _p("GET", "/v1/profiles/{profile_id}/timeline", PROFILING, PROFILE),
    _p(
        "GET",
        "/v1/profiles/{profile_id}/identifiers",
        PROFILING,
        PROFILE,
        note=_OUTREACH,
        declarable=MARKETING,
    ),
    _p("POST", "/v1/profiles/{profile_id}/identifiers", PROFILING, PROFILE),
    _p("POST", "/v1/profiles/{profile_id}/merge", PROFILING, PROFILE, BODY + "other_id"),
    _p("POST", "/v1/profiles/{profile_id}/unmerge", PROFILING, PROFILE),
    _p("GET", "/v1/profiles/{profile_id}/match-suggestions", PROFILING, PROFILE),
    _p("POST", "/v1/profiles/{profile_id}/match-suggestions/{suggestion_id}/accept", PROFILING, PROFILE),
    _p("POST", "/v1/profiles/{profile_id}/match-suggestions/{suggestion_id}/reject", PROFILING, PROFILE),
    _p("GET POST", "/v1/profiles/{profile_id}/notes", ENGAGEMENT, PROFILE),
    _p("GET", "/v1/profiles/{profile_id}/consents", EXEMPT, note=_PRIVACY),
    _p("PUT", "/v1/profiles/{profile_id}/consents/{purpose}", EXEMPT, note=_PRIVACY),
    _p("PUT", "/v1/profiles/{profile_id}/objections/{purpose}", EXEMPT, note=_PRIVACY),
    _p("PUT", "/v1/profiles/{profile_id}/restriction", EXEMPT, note=_PRIVACY),
    _p("GET POST", "/v1/profile-attributes", EXEMPT, note=_SETUP),
    _p("DELETE", "/v1/profile-attributes/{name}", EXEMPT, note=_SETUP),
    _p("GET POST", "/v1/segments", PROFILING, note="membership skips people who objected to profiling"),
    _p("GET DELETE", "/v1/segments/{segment_id}", PROFILING, note="a segment's definition"),
    _p(
        "GET",
        "/v1/segments/{segment_id}/members",
        PROFILING,
        note="`?purpose=marketing` (and its CSV): profiles leaves out, and counts, members without a "
        "lawful basis for marketing",
    ),
    _p("GET PUT", "/v1/privacy/policy", EXEMPT, note=_PRIVACY),
    _p("GET", "/v1/privacy/audit", EXEMPT, note=_PRIVACY),
    _p("GET", "/v1/privacy/processing-records", EXEMPT, note=_PRIVACY),
    _p("GET POST", "/v1/privacy/exports", EXEMPT, note=_PRIVACY),
    _p("GET", "/v1/privacy/exports/{request_id}", EXEMPT, note=_PRIVACY),
    _p("GET", "/v1/privacy/exports/{request_id}/download", EXEMPT, note=_PRIVACY),
    _p("GET POST", "/v1/privacy/erasures", EXEMPT, note=_PRIVACY),
    _p("GET", "/v1/privacy/erasures/{request_id}", EXEMPT, note=_PRIVACY),
    # engagement
    _p("GET", "/v1/conversations/stream", ENGAGEMENT, note=_CONVERSATION),
    _p("POST", "/v1/conversations/stream/tickets", EXEMPT, note="a ticket for the stream"),
    _p("GET", "/v1/conversations", ENGAGEMENT, note=_CONVERSATION),
    _p("GET PATCH", "/v1/conversations/{conversation_id}", ENGAGEMENT, note=_CONVERSATION),
    _p("POST", "/v1/conversations/{conversation_id}/notes", ENGAGEMENT, note=_CONVERSATION),
    _p(
        "POST",
        "/v1/conversations/{conversation_id}/messages",
        ENGAGEMENT,
        note="engagement checks the conversation's person (451 alike) before a reply is queued",
    ),
    _p("POST", "/v1/conversations/{conversation_id}/assign", ENGAGEMENT, note=_CONVERSATION),
    _p("POST", "/v1/conversations/{conversation_id}/merge", ENGAGEMENT, note=_CONVERSATION),
    _p("GET", "/v1/conversations/{conversation_id}/surveys", ENGAGEMENT, note=_CONVERSATION),
    _p(
        "POST",
        "/v1/conversations/{conversation_id}/surveys/{survey_id}/link",
        ENGAGEMENT,
        note=_CONVERSATION,
    ),
    _p("GET POST", "/v1/surveys/{token}", ENGAGEMENT, note="the person answering, by their link"),
    _p("GET", "/v1/agents", EXEMPT, note=_SETUP),
    _p("PUT", "/v1/agents/me/presence", EXEMPT, note=_SETUP),
    _p("POST", "/v1/agents/me/heartbeat", EXEMPT, note=_SETUP),
    _p("PATCH", "/v1/agents/{agent_id}", EXEMPT, note=_SETUP),
    _p("GET", "/v1/webhooks/event-types", EXEMPT, note=_SETUP),
    _p(
        "GET POST",
        "/v1/webhooks/subscriptions",
        EXEMPT,
        note="a subscription declares its own purpose: a delivery about a person who refused it carries "
        "ids only",
    ),
    _p("GET PATCH DELETE", "/v1/webhooks/subscriptions/{subscription_id}", EXEMPT, note=_SETUP),
    _p("POST", "/v1/webhooks/subscriptions/{subscription_id}/pause", EXEMPT, note=_SETUP),
    _p("POST", "/v1/webhooks/subscriptions/{subscription_id}/resume", EXEMPT, note=_SETUP),
    _p("POST", "/v1/webhooks/subscriptions/{subscription_id}/rotate-secret", EXEMPT, note=_SETUP),
    _p("POST", "/v1/webhooks/subscriptions/{subscription_id}/test", EXEMPT, note=_SETUP),
    _p("GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries", EXEMPT, note=_SETUP),
    _p("POST", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/replay-dead", EXEMPT, note=_SETUP),
    _p(
        "POST",
        "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay",
        EXEMPT,
        note=_SETUP,
    ),
    _p("GET POST", "/v1/canned-responses", EXEMPT, note=_SETUP),
    _p("GET PATCH DELETE", "/v1/canned-responses/{canned_id}", EXEMPT, note=_SETUP),
    _p("GET POST", "/v1/teams", EXEMPT, note=_SETUP),
    _p("GET PATCH DELETE", "/v1/teams/{team_id}", EXEMPT, note=_SETUP),
    _p("PUT DELETE", "/v1/teams/{team_id}/members/{agent_id}", EXEMPT, note=_SETUP),
    _p("GET", "/v1/sla-policies", EXEMPT, note=_SETUP),
    _p("GET PUT DELETE", "/v1/sla-policies/{priority}", EXEMPT, note=_SETUP),
    _p("GET POST", "/v1/routing/rules", EXEMPT, note=_SETUP),
    _p("GET PATCH DELETE", "/v1/routing/rules/{rule_id}", EXEMPT, note=_SETUP),
    _p("POST", "/v1/routing/dry-run", EXEMPT, note="a sample post, stored nowhere"),
    _p("GET", "/v1/survey-settings", EXEMPT, note=_SETUP),
    _p("GET PUT DELETE", "/v1/survey-settings/{channel_id}", EXEMPT, note=_SETUP),
    _p("GET PUT", "/v1/consent-keywords", EXEMPT, note=_SETUP),
    # metrics
    _p("GET", "/v1/metrics/scorecard", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/metrics/timeseries", ANALYTICS, note="aggregates"),
    _p("GET", "/v1/metrics/rows", ANALYTICS, note="a figure's rows: ids, labels, times and amounts"),
)


class RouteTable:
    """Finds the route of a request in a dict lookup plus a few prefix checks, and its processing."""

    def __init__(
        self, routes: Iterable[Route] = ROUTES, processing: Iterable[Processing] = PROCESSING
    ) -> None:
        self.routes = tuple(routes)
        self._groups: dict[str, list[Route]] = {}
        for route in self.routes:
            self._groups.setdefault(_group(route.prefix), []).append(route)
        self.processing = tuple(processing)
        # (method, segment count) → the entries that may match; literal segments win over parameters.
        self._processing: dict[tuple[str, int], list[Processing]] = {}
        for entry in sorted(self.processing, key=lambda e: e.template.count("{")):
            for method in entry.methods:
                self._processing.setdefault((method, entry.size), []).append(entry)

    def processing_of(self, method: str, segments: list[str]) -> Processing | None:
        """The processing entry of a request (its path split on `/`), or None if none is declared."""
        for entry in self._processing.get(("GET" if method == "HEAD" else method, len(segments)), ()):
            if entry.matches(segments):
                return entry
        return None

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


PURPOSE_TABLE_HEADER = (
    "| Method | Path | Purpose | Checked at the gateway for | Notes |\n|---|---|---|---|---|\n"
)
_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def purpose_table(entries: Iterable[Processing] = PROCESSING) -> str:
    """The processing table as Markdown, one row per operation (docs/privacy.md holds it)."""
    lines = [PURPOSE_TABLE_HEADER]
    for entry in entries:
        for method in sorted(entry.methods, key=_METHOD_ORDER.index):
            people = ", ".join(
                f"`{{{w[len(PATH) :]}}}`" if w.startswith(PATH) else f"body `{w[len(BODY) :]}`"
                for w in entry.people
            )
            purpose = f"`{entry.purpose}`" if entry.purpose else "exempt"
            if entry.declarable:
                purpose += f"; `{entry.declarable}` with `?purpose={entry.declarable}`"
            lines.append(f"| {method} | `{entry.template}` | {purpose} | {people or '—'} | {entry.note} |\n")
    return "".join(lines)
