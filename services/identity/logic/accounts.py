"""Tenants and users: signup, creating users with a role, reading them within the tenant."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.identity.errors import EmailTaken, RoleNotGrantable, SignupDisabled, UserNotFound
from services.identity.logic.passwords import hash_password
from services.identity.models import Tenant, User, new_id
from services.identity.schemas import SignupRead, TenantCreate, TenantRead, UserCreate, UserRead
from services.identity.settings import IdentitySettings
from shared.auth import Principal
from shared.events.contracts import TenantCreated, UserCreated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import Page, paginate
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.identity.accounts")

SOURCE = "identity"


def normalize_email(email: str) -> str:
    """E-mails are compared case-insensitively (one account per address)."""
    return email.strip().lower()


async def _email_taken(session: AsyncSession, email: str) -> bool:
    return (await session.execute(select(User.id).where(User.email == email))).first() is not None


def _stage_user_created(session: AsyncSession, user: User) -> None:
    data = UserCreated(user_id=user.id, role=user.role, display_name=user.display_name)
    stage(
        session,
        new_event(
            type="identity.user.created", source=SOURCE, tenant_id=user.tenant_id, data=data, subject=user.id
        ),
    )


async def _new_user(
    session: AsyncSession, *, tenant_id: str, email: str, password: str, display_name: str | None, role: str
) -> User:
    # Check and hash before writing anything: a SQLite write lock must not wait on a 100 ms hash.
    if await _email_taken(session, email):
        raise EmailTaken("This e-mail address is already registered.")
    return User(
        tenant_id=tenant_id,
        email=email,
        display_name=display_name,
        role=role,
        password_hash=await hash_password(password),
    )


async def _commit_or_conflict(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError:
        # Two requests raced for one e-mail address: the unique index decided.
        await session.rollback()
        raise EmailTaken("This e-mail address is already registered.") from None


async def signup(session: AsyncSession, *, settings: IdentitySettings, tenant_in: TenantCreate) -> SignupRead:
    """Create a tenant and its owner, and announce both."""
    if not settings.signup_enabled:
        raise SignupDisabled("Self-service signup is disabled.")
    tenant_id = new_id()
    user = await _new_user(
        session,
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
            type="identity.tenant.created",
            source=SOURCE,
            tenant_id=tenant.id,
            data=TenantCreated(tenant_id=tenant.id, name=tenant.name),
            subject=tenant.id,
        ),
    )
    await _commit_or_conflict(session)
    log.info("tenant.created", extra={"tenant_id": tenant.id, "user_id": user.id})
    return SignupRead(tenant=TenantRead.model_validate(tenant), user=UserRead.model_validate(user))


async def create_user(session: AsyncSession, *, principal: Principal, user_in: UserCreate) -> UserRead:
    """Add a user with a role to the caller's tenant (only an owner may create an admin)."""
    if user_in.role == "admin" and principal.role != "owner":
        raise RoleNotGrantable("Only an owner may create an admin.")
    user = await _new_user(
        session,
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


async def get_user(session: AsyncSession, *, tenant_id: str, user_id: str) -> UserRead:
    """One user of the tenant; another tenant's user is not found."""
    user = await get_scoped(session, User, tenant_id=tenant_id, id=user_id, error=UserNotFound)
    return UserRead.model_validate(user)


async def list_users(
    session: AsyncSession, *, tenant_id: str, role: str | None, limit: int, cursor: str | None
) -> Page[UserRead]:
    """The tenant's users, newest first, optionally of one role."""
    stmt = scoped(User, tenant_id)
    if role is not None:
        stmt = stmt.where(User.role == role)
    rows, next_cursor = await paginate(session, stmt, User, limit=limit, cursor=cursor)
    return Page[UserRead](items=[UserRead.model_validate(u) for u in rows], next_cursor=next_cursor)
