"""Request and response models of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.db import utcnow
from shared.events.contracts import Role
from shared.pagination import Page
from shared.scopes import SCOPES, Scope

# Roles an owner or admin may grant; nobody creates an owner through the API.
GrantableRole = Literal["admin", "agent", "analyst", "integration"]

Password = Annotated[str, Field(min_length=10, max_length=256)]
Email = Annotated[EmailStr, Field(max_length=254)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TenantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(Strict):
    name: TenantName
    admin_email: Email
    admin_password: Password
    admin_display_name: DisplayName | None = None


class UserCreate(Strict):
    email: Email
    password: Password
    display_name: DisplayName | None = None
    role: GrantableRole


class UserUpdate(Strict):
    """What an owner or admin may change about a user; at least one field."""

    role: Role | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> UserUpdate:
        if self.role is None and self.active is None:
            raise ValueError("name a `role` or `active` to change")
        return self


class TokenRequest(Strict):
    # Login checks the credentials, not their shape: a wrong e-mail is a 401 like a wrong password.
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    # Only needed when one e-mail and password open accounts in several tenants.
    tenant_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # `cookie`: the refresh token goes into the HttpOnly `rapport_refresh` cookie, not the body (browsers).
    session: Literal["cookie"] | None = None


class ClientCredentialsRequest(Strict):
    """The OAuth 2.0 client credentials grant (RFC 6749 §4.4): an API key's id and the key itself."""

    grant_type: Literal["client_credentials"]
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    client_secret: Annotated[str, Field(min_length=1, max_length=200)]
    # Fewer scopes than the key's (space-separated); the key's own by default.
    scope: Annotated[str, Field(max_length=1000)] | None = None


class RefreshRequest(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    email: str
    display_name: str | None
    role: Role
    active: bool
    created_at: datetime


class SignupRead(BaseModel):
    tenant: TenantRead
    user: UserRead


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class AccessToken(BaseModel):
    """An access token of a cookie session: its refresh token is in the `rapport_refresh` cookie."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class ClientToken(BaseModel):
    """An access token for an API key (no refresh token: the key exchanges again)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    scope: str = Field(description="The token's scopes, space-separated.")


KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKeyCreate(Strict):
    name: KeyName
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(SCOPES))]
    expires_at: AwareDatetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= utcnow():
            raise ValueError("must be in the future")
        return value


class ApiKeyRead(BaseModel):
    """An API key as listed: never the key itself, only its first characters (`prefix`)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The key's id: the OAuth `client_id`.")
    tenant_id: str
    name: str
    scopes: list[str]
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # Stored space-separated, as in a token's `scope` claim.
        return value.split() if isinstance(value, str) else value


class ApiKeyCreated(ApiKeyRead):
    """A new API key: `key` is shown this once and never again (only its hash is kept)."""

    key: str = Field(description="The secret (`rk_…`): the OAuth `client_secret`.")


class JWK(BaseModel):
    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]
    n: str
    e: str


class JWKSet(BaseModel):
    keys: list[JWK]


UserPage = Page[UserRead]
ApiKeyPage = Page[ApiKeyRead]
