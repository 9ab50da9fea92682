"""Request and response models of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from shared.events.contracts import Role
from shared.pagination import Page

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
