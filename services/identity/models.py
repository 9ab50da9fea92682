"""identity's tables. Tenants and signing keys are global; every other row carries `tenant_id`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Tenant(SQLModel, table=True):
    """A customer organisation; every other row belongs to one."""

    __tablename__ = "tenants"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class User(SQLModel, table=True):
    """A person (or integration) of one tenant.

    An e-mail is unique within its tenant only: whether an address is registered in another tenant is
    nobody else's business (signup and invitations answer alike). Login finds the account by password.
    """

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
        # A page of the tenant's users, newest first (keyset on created_at, id).
        Index("ix_users_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id", index=True)
    email: str = Field(max_length=254, index=True)
    display_name: str | None = Field(default=None, max_length=100)
    role: str = Field(max_length=20, index=True)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True)
    # Carried in access tokens (`ver`); raised on a role change or deactivation so older tokens die.
    token_version: int = Field(default=0)
    # When `token_version` last moved: the deny-list entry lives one access-token TTL from then.
    tokens_revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class LoginAttempt(SQLModel, table=True):
    """One login attempt that has not succeeded (yet), per throttle key: a hashed account or client IP.

    A row is written before the password is checked (so concurrent guesses count too) and removed on
    success; rows older than the throttle window are pruned as new ones arrive.
    """

    __tablename__ = "login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, index=True)
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class RefreshToken(SQLModel, table=True):
    """One opaque refresh token, stored as its SHA-256; each use rotates it within its family."""

    __tablename__ = "refresh_tokens"

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    user_id: str = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    family_id: str = Field(index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SigningKey(SQLModel, table=True):
    """An RSA key pair that signs access tokens; the public half is published in the JWKS."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    private_pem: str = Field(sa_column=Column(Text, nullable=False))
    public_jwk: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    active: bool = Field(default=True, index=True)


class ApiKey(SQLModel, table=True):
    """A partner's API key: its id is the OAuth `client_id`, the key itself (`rk_…`) the secret.

    Only the key's SHA-256 and its first characters (to recognise it in a list) are kept: the key is
    shown once, when it is made. Its scopes never exceed its creator's role (`shared/scopes.py`).
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        # A page of the tenant's keys, or of one creator's, newest first (keyset on created_at, id).
        Index("ix_api_keys_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_api_keys_tenant_creator_created", "tenant_id", "created_by", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id")
    name: str = Field(max_length=100)
    # Space-separated, as in a token's `scope` claim.
    scopes: str = Field(sa_column=Column(Text, nullable=False))
    prefix: str = Field(max_length=16)
    secret_hash: str = Field(max_length=64)
    created_by: str = Field(foreign_key="users.id")
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_ip: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
