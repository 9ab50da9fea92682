"""conversations: per customer and thread (thread_key)

A conversation is now per customer and thread: `thread_key` (services/engagement/logic/threads.py) and
the one-in-progress index on (tenant, profile, thread) instead of (tenant, profile); `merged_into_id`
on a conversation merged into another (its thread goes on there).

The conversations already there get the key of the thread of the post that opened them (its message and
the resolved mention remembered in `seen_mention`): a private message → the customer's direct thread on
its channel; a public reply to a message of another conversation → that conversation's thread; other
public posts → the thread rooted at the post (or at the post it answers). A conversation whose first post
is no longer known gets a thread of its own (`legacy:<id>`): replies to its messages still join it.

Revision ID: f6bd36a7782d
Revises: 5b1e9c2d7a43
Create Date: 2026-12-07 02:20:00.000000
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "f6bd36a7782d"
down_revision: str | Sequence[str] | None = "5b1e9c2d7a43"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('open', 'pending', 'snoozed')"
# A frozen copy of logic/threads.py's rules as of this revision (the code may change; this must not).
DIRECT_PLATFORMS = frozenset({"messenger", "whatsapp"})
DIGEST_CHARS = 40
CHUNK = 500


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:DIGEST_CHARS]


def _direct_key(platform: str, channel_id: str | None, account: str) -> str:
    return "dm:" + _digest(channel_id or f"platform:{platform}", account)


def _post_key(platform: str, root: str) -> str:
    return "post:" + _digest(platform, root)


def _first_pass(row: Any) -> tuple[str | None, str | None]:
    """(key, None) when the first post alone gives the key; (None, parent) for a public reply whose parent
    may be another conversation's message; (None, None) when nothing is known."""
    try:
        payload: dict[str, Any] = json.loads(row.payload) if row.payload else {}
    except ValueError:
        payload = {}
    platform = row.message_platform or payload.get("platform") or row.platform
    if not platform:
        return None, None
    kind = row.kind or payload.get("kind")
    author = payload.get("author") or {}
    if kind == "message" or platform in DIRECT_PLATFORMS:
        handle = author.get("handle") or row.customer_handle
        if author.get("platform_user_id"):
            account = f"id:{author['platform_user_id']}"
        elif handle:
            account = f"handle:{handle.lower()}"
        else:
            return None, None
        return _direct_key(platform, row.channel_id or payload.get("channel_id"), account), None
    parent = payload.get("in_reply_to")
    if parent:
        return None, parent
    external_id = row.external_id or payload.get("external_id")
    return (_post_key(platform, external_id), None) if external_id else (None, None)


def _backfill() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            """
            SELECT c.id, c.tenant_id, c.platform, c.channel_id, c.customer_handle,
                   m.platform AS message_platform, m.kind, m.external_id, s.payload
            FROM conversation c
            LEFT JOIN message m ON m.tenant_id = c.tenant_id AND m.mention_id = c.first_mention_id
            LEFT JOIN seen_mention s ON s.tenant_id = c.tenant_id AND s.mention_id = c.first_mention_id
            """
        )
    ).all()
    keys: dict[str, str] = {}
    replies: dict[str, tuple[str, str, str]] = {}  # conversation id → (tenant, platform, parent id)
    for row in rows:
        if row.id in keys or row.id in replies:
            continue  # a platform's reused external id joined twice: the first row decides
        key, parent = _first_pass(row)
        if key is not None:
            keys[row.id] = key
        elif parent is not None:
            platform = row.message_platform or row.platform or ""
            replies[row.id] = (row.tenant_id, platform, parent)
        else:
            keys[row.id] = f"legacy:{row.id}"
    # Public replies: the thread of the conversation holding the parent, else the thread rooted at it.
    parents = sorted({parent for _, _, parent in replies.values()})
    holder: dict[tuple[str, str], str] = {}
    for start in range(0, len(parents), CHUNK):
        found = conn.execute(
            sa.text(
                "SELECT tenant_id, external_id, conversation_id FROM message "
                "WHERE external_id IN :ids ORDER BY created_at ASC"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": parents[start : start + CHUNK]},
        ).all()
        for tenant_id, external_id, conversation_id in found:
            holder.setdefault((tenant_id, external_id), conversation_id)
    for conversation_id, (tenant_id, platform, parent) in replies.items():
        held_by = holder.get((tenant_id, parent))
        if held_by is not None and held_by != conversation_id and held_by in keys:
            keys[conversation_id] = keys[held_by]
        else:
            keys[conversation_id] = _post_key(platform, parent)
    update = sa.text("UPDATE conversation SET thread_key = :key WHERE id = :id")
    items = [{"id": conversation_id, "key": key} for conversation_id, key in keys.items()]
    for start in range(0, len(items), CHUNK):
        conn.execute(update, items[start : start + CHUNK])


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_key", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("merged_into_id", sa.String(length=64), nullable=True))
    _backfill()
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        # Before: at most one conversation in progress per profile, so the new index holds at once.
        batch_op.drop_index("uq_conversation_open_profile")
        batch_op.drop_index("ix_conversation_tenant_profile")
        batch_op.create_index(
            "uq_conversation_open_thread",
            ["tenant_id", "profile_id", "thread_key"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )
        batch_op.create_index(
            "ix_conversation_tenant_profile_thread", ["tenant_id", "profile_id", "thread_key"], unique=False
        )


def downgrade() -> None:
    # One conversation in progress per profile again: fails while a customer has several threads in
    # progress (resolve all but one of each customer's first).
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_tenant_profile_thread")
        batch_op.drop_index("uq_conversation_open_thread")
        batch_op.create_index("ix_conversation_tenant_profile", ["tenant_id", "profile_id"], unique=False)
        batch_op.create_index(
            "uq_conversation_open_profile",
            ["tenant_id", "profile_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("thread_key")
