"""Scopes of API keys: what each one opens, which roles may grant it, and which one a request needs.

A person's token is admitted by its role (the role sets of `gateway/routes.py` and of each service's
`require_roles`). A token exchanged for an API key carries `scope` (space-separated, RFC 9068) and the
role of the key's creator: it is admitted where the route's scope is among its scopes, and the creator's
role still bounds it, so a key never does what its creator could not. A route with no scope (sign-up,
users, API keys, the caller's own session) refuses every scoped token.

`ROLE_SCOPES` is the one table of what each role may put in a key (checked when a key is made and again
at each exchange, so a creator who lost a role cannot mint tokens above it). `PATH_ACCESS` says which
scope each path prefix needs for reads and for writes: the services read it (`require_roles`); the
gateway's route table declares the same `Access` per route, and a test holds the two together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

Scope = Literal[
    "mentions:read",
    "mentions:write",
    "queries:read",
    "queries:write",
    "alerts:read",
    "metrics:read",
    "usage:read",
    "channels:manage",
    "profiles:read",
    "profiles:write",
    "segments:read",
    "segments:write",
    "conversations:read",
    "conversations:write",
    "agents:read",
    "webhooks:manage",
    "routing:manage",
]
SCOPES: tuple[str, ...] = get_args(Scope)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """The scope a route needs to be read (GET, HEAD, OPTIONS) and to be written (any other method);
    None: no scoped token may."""

    read: str | None
    write: str | None

    def scope_for(self, method: str) -> str | None:
        """The scope this method needs."""
        return self.read if method in READ_METHODS else self.write


def _rw(resource: str) -> Access:
    return Access(read=f"{resource}:read", write=f"{resource}:write")


def _read_only(scope: str) -> Access:
    return Access(read=scope, write=None)


def _manage(resource: str) -> Access:
    return Access(read=f"{resource}:manage", write=f"{resource}:manage")


MENTIONS = _rw("mentions")
QUERIES = _rw("queries")
ALERTS = _read_only("alerts:read")
# Share of voice is an aggregate, read like the scorecard.
METRICS = _read_only("metrics:read")
USAGE = _read_only("usage:read")
CHANNELS = _manage("channels")
PROFILES = _rw("profiles")
SEGMENTS = _rw("segments")
CONVERSATIONS = _rw("conversations")
AGENTS = _read_only("agents:read")
WEBHOOKS = _manage("webhooks")
# SLA policies and routing rules: read like the inbox, changed by admins (and their keys).
ROUTING = Access(read="conversations:read", write="routing:manage")
# Routes no scoped token may call (identity's own: tenants, users, API keys, the caller's session).
NO_KEYS = Access(read=None, write=None)

# Path prefix → access, the longest prefix first wins (`/v1/listening/queries/…` before `/v1/listening`).
PATH_ACCESS: dict[str, Access] = {
    "/v1/mentions": MENTIONS,
    "/v1/listening/queries": QUERIES,
    "/v1/listening/alerts": ALERTS,
    "/v1/listening/share-of-voice": METRICS,
    "/v1/listening/usage": USAGE,
    "/v1/channels": CHANNELS,
    "/v1/profiles": PROFILES,
    "/v1/profile-attributes": PROFILES,
    "/v1/segments": SEGMENTS,
    "/v1/conversations": CONVERSATIONS,
    "/v1/agents": AGENTS,
    "/v1/teams": AGENTS,
    "/v1/metrics": METRICS,
    "/v1/webhooks": WEBHOOKS,
    # The live inbox, and the tickets that open it, only read.
    "/v1/conversations/stream": Access(read="conversations:read", write="conversations:read"),
    "/v1/sla-policies": ROUTING,
    "/v1/routing": ROUTING,
    "/v1/canned-responses": CONVERSATIONS,
    "/v1/own-accounts": CHANNELS,
    "/v1/survey-settings": CONVERSATIONS,
}
_BY_LENGTH = sorted(PATH_ACCESS.items(), key=lambda item: len(item[0]), reverse=True)

_EVERY_SCOPE = frozenset(SCOPES)
# The one table of what each role may grant to a key: a scope is grantable when the role may call at
# least one route needing it (routes inside a scope that the role may not call stay refused: the token
# carries the creator's role). Owners and admins grant everything (`webhooks:manage` and
# `conversations:write` are for the routes the gateway declares for them, whatever the service adds).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": _EVERY_SCOPE,
    "admin": _EVERY_SCOPE,
    "agent": frozenset(
        {
            "mentions:read",
            "mentions:write",
            "queries:read",
            "alerts:read",
            "metrics:read",
            "profiles:read",
            "profiles:write",
            "segments:read",
            "segments:write",
            "conversations:read",
            "conversations:write",
            "agents:read",
        }
    ),
    "analyst": frozenset(
        {
            "mentions:read",
            "queries:read",
            "queries:write",
            "alerts:read",
            "metrics:read",
            "profiles:read",
            "segments:read",
            "segments:write",
            "conversations:read",
            "agents:read",
        }
    ),
    "integration": frozenset({"mentions:write", "profiles:write"}),
}


def access_for(path: str) -> Access:
    """The access of the longest prefix `path` lies under (itself or below it); `NO_KEYS` if none."""
    for prefix, access in _BY_LENGTH:
        if path == prefix or path.startswith(prefix + "/"):
            return access
    return NO_KEYS


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs (None: no scoped token may make it)."""
    return access_for(path).scope_for(method)


def not_grantable(role: str, scopes: Iterable[str]) -> list[str]:
    """The scopes of `scopes` that `role` may not grant, sorted (empty: all may be granted)."""
    return sorted(set(scopes) - ROLE_SCOPES.get(role, frozenset()))


def parse_scope(claim: object) -> frozenset[str] | None:
    """The scopes of a token's `scope` claim (space-separated); None for a token without one (a person's)."""
    if claim is None:
        return None
    if not isinstance(claim, str):
        return frozenset()
    return frozenset(claim.split())
