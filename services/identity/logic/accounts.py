"""Tenants and users: signup, creating users with a role, changing role and active flag, reading them.

An e-mail address is unique within a tenant only, so signup and invitations answer the same whether or
not the address is registered in another tenant (no enumeration across tenants).
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.identity.errors import (
    EmailTaken,
    RoleNotGrantable,
    SignupDisabled,
    UserChangeRefused,
    UserNotFound,
)
from services.identity.logic.denylist import deny_user_tokens
from services.identity.logic.passwords import Passwords
from services.identity.models import RefreshToken, Tenant, User, new_id
from services.identity.schemas import (
    SignupRead,
    TenantCreate,
    TenantRead,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from services.identity.settings import IdentitySettings
from shared.auth import Principal
from shared.db import utcnow
from shared.events.contracts import TenantCreated, UserCreated, UserDeactivated, UserUpdated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import Page, page_of
from shared.reads import Reader
from shared.tenancy import get_row_scoped, get_scoped

log = logging.getLogger("rapport.identity.accounts")

SOURCE = "identity"


def normalize_email(email: str) -> str:
    """E-mails are compared case-insensitively (one account per address)."""
    return email.strip().lower()


async def _email_taken(session: AsyncSession, *, tenant_id: str, email: str) -> bool:
    stmt = select(User.id).where(User.tenant_id == tenant_id, User.email == email)
    return (await session.execute(stmt)).first() is not None


def _stage_user_created(session: AsyncSession, user: User) -> None:
    data = UserCreated(user_id=user.id, role=user.role, display_name=user.display_name)
    stage(
        session,
        new_event(data, source=SOURCE, tenant_id=user.tenant_id, subject=user.id),
    )


async def _new_user(
    session: AsyncSession,
    *,
    passwords: Passwords,
    tenant_id: str,
    email: str,
    password: str,
    display_name: str | None,
    role: str,
) -> User:
    # Check and hash before writing anything: a SQLite write lock must not wait on a 100 ms hash.
    if await _email_taken(session, tenant_id=tenant_id, email=email):
        raise EmailTaken("This e-mail address is already a user of this tenant.")
    return User(
        tenant_id=tenant_id,
        email=email,
        display_name=display_name,
        role=role,
        password_hash=await passwords.hash(password),
    )


async def _commit_or_conflict(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError:
        # Two requests raced for one e-mail address in one tenant: the unique index decided.
        await session.rollback()
        raise EmailTaken("This e-mail address is already a user of this tenant.") from None


async def signup(
    session: AsyncSession, *, settings: IdentitySettings, passwords: Passwords, tenant_in: TenantCreate
) -> SignupRead:
    """Create a tenant and its owner, and announce both."""
    if not settings.signup_enabled:
        raise SignupDisabled("Self-service signup is disabled.")
    tenant_id = new_id()
    user = await _new_user(
        session,
        passwords=passwords,
        tenant_id=tenant_id,
        email=normalize_email(tenant_in.admin_email),
        password=tenant_in.admin_password,
        display_name=tenant_in.admin_display_name,
        role="owner",
    )
    tenant = Tenant(id=tenant_id, name=tenant_in.name)
    session.add(tenant)
    await session.flush()
    session.add(user)
    _stage_user_created(session, user)
    stage(
        session,
        new_event(
            TenantCreated(tenant_id=tenant.id, name=tenant.name),
            source=SOURCE,
            tenant_id=tenant.id,
            subject=tenant.id,
        ),
    )
    await _commit_or_conflict(session)
    log.info("tenant.created", extra={"tenant_id": tenant.id, "user_id": user.id})
    return SignupRead(tenant=TenantRead.model_validate(tenant), user=UserRead.model_validate(user))


async def create_user(
    session: AsyncSession, *, passwords: Passwords, principal: Principal, user_in: UserCreate
) -> UserRead:
    """Add a user with a role to the caller's tenant (only an owner may create an admin)."""
    if user_in.role == "admin" and principal.role != "owner":
        raise RoleNotGrantable("Only an owner may create an admin.")
    user = await _new_user(
        session,
        passwords=passwords,
        tenant_id=principal.tenant_id,
        email=normalize_email(user_in.email),
        password=user_in.password,
        display_name=user_in.display_name,
        role=user_in.role,
    )
    session.add(user)
    _stage_user_created(session, user)
    await _commit_or_conflict(session)
    log.info("user.created", extra={"tenant_id": user.tenant_id, "user_id": user.id, "role": user.role})
    return UserRead.model_validate(user)


async def get_user(reader: Reader, *, tenant_id: str, user_id: str) -> UserRead:
    """One user of the tenant; another tenant's user is not found."""
    user = await get_row_scoped(
        reader, User, tenant_id=tenant_id, id=user_id, error=UserNotFound, shape=UserRead
    )
    return UserRead.model_validate(user)


async def list_users(
    reader: Reader, *, tenant_id: str, role: str | None, limit: int, cursor: str | None
) -> Page[UserRead]:
    """The tenant's users, newest first, optionally of one role."""
    rows, next_cursor = await page_of(
        reader, User, tenant_id=tenant_id, limit=limit, cursor=cursor, shape=UserRead, role=role
    )
    return UserPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def _active_owners(session: AsyncSession, *, tenant_id: str) -> int:
    stmt = select(func.count()).where(
        col(User.tenant_id) == tenant_id, col(User.role) == "owner", col(User.active).is_(True)
    )
    return int((await session.execute(stmt)).scalar_one())


def _check_change(principal: Principal, user: User, user_in: UserUpdate) -> None:
    """Who may change whom: only owners touch owners and admins; nobody locks the tenant out."""
    if principal.role != "owner":
        if user.role in ("owner", "admin"):
            raise RoleNotGrantable("Only an owner may change an owner or an admin.")
        if user_in.role in ("owner", "admin"):
            raise RoleNotGrantable("Only an owner may grant the owner or admin role.")
    if user_in.active is False and user.id == principal.user_id:
        raise UserChangeRefused("You cannot deactivate yourself.")


async def update_user(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    redis: Redis | None,
    principal: Principal,
    user_id: str,
    user_in: UserUpdate,
) -> UserRead:
    """Change a user's role or active flag; a deactivation or role change ends their tokens at once."""
    user = await get_scoped(session, User, tenant_id=principal.tenant_id, id=user_id, error=UserNotFound)
    _check_change(principal, user, user_in)
    changed: list[str] = []
    if user_in.role is not None and user_in.role != user.role:
        changed.append("role")
    if user_in.active is not None and user_in.active != user.active:
        changed.append("active")
    if not changed:
        return UserRead.model_validate(user)
    leaves_owners = user.role == "owner" and user.active and ("role" in changed or user_in.active is False)
    if leaves_owners and await _active_owners(session, tenant_id=user.tenant_id) <= 1:
        raise UserChangeRefused("A tenant keeps at least one active owner.")
    deactivated = user_in.active is False and user.active
    if "role" in changed:
        user.role = user_in.role  # type: ignore[assignment]
    if "active" in changed:
        user.active = bool(user_in.active)
    if "role" in changed or deactivated:
        # Tokens carry the role they were issued with: older versions are refused from now on.
        user.token_version += 1
        user.tokens_revoked_at = utcnow()
    if deactivated:
        await session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.user_id) == user.id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
    data = UserUpdated(
        user_id=user.id,
        role=user.role,
        active=user.active,
        changed=changed,
        by_user_id=principal.user_id,
    )
    stage(session, new_event(data, source=SOURCE, tenant_id=user.tenant_id))
    if deactivated:
        gone = UserDeactivated(user_id=user.id, by_user_id=principal.user_id)
        stage(
            session,
            new_event(gone, source=SOURCE, tenant_id=user.tenant_id, subject=user.id),
        )
    read = UserRead.model_validate(user)
    await session.commit()
    if "role" in changed or deactivated:
        await deny_user_tokens(redis, settings=settings, user=user)
    log.info("user.updated", extra={"tenant_id": user.tenant_id, "user_id": user.id, "changed": changed})
    return read
