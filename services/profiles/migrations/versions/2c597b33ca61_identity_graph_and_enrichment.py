"""identity graph and enrichment

The `handle` table becomes the `identifier` table (kind `handle`, the platform as namespace, attested by
the platform); interactions gain a kind, a reference id (the mention id so far) and the profile they were
first attributed to; profiles gain the enrichment columns; new tables for merges, match suggestions,
orders, lifecycle changes, custom attributes, notes and segments.

Revision ID: 2c597b33ca61
Revises: 44fdf9a6d521
Create Date: 2026-12-06 16:40:20.169029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2c597b33ca61"
down_revision: str | Sequence[str] | None = "44fdf9a6d521"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attribute_definition",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_attribute_definition_name"),
    )
    with op.batch_alter_table("attribute_definition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attribute_definition_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "lifecycle_change",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("from_stage", sa.String(length=32), nullable=False),
        sa.Column("to_stage", sa.String(length=32), nullable=False),
        sa.Column("at_risk", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lifecycle_change", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lifecycle_change_profile", ["tenant_id", "profile_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lifecycle_change_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "match_suggestion",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("candidate_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "profile_id", "candidate_id", name="uq_match_suggestion_pair"),
    )
    with op.batch_alter_table("match_suggestion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_match_suggestion_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_match_suggestion_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "profile_merge",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("survivor_id", sa.String(length=64), nullable=False),
        sa.Column("merged_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("survivor_before", sa.JSON(), nullable=False),
        sa.Column("merged_before", sa.JSON(), nullable=False),
        sa.Column("identifier_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("profile_merge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_merge_merged_id"), ["merged_id"], unique=False)
        batch_op.create_index("ix_profile_merge_survivor", ["tenant_id", "survivor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_profile_merge_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "segment",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=2000), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.create_index("ix_segment_tenant_created", ["tenant_id", "created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_segment_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "identifier",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("value_normalised", sa.String(length=320), nullable=False),
        sa.Column("evidence", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "kind", "namespace", "value_normalised", name="uq_identifier_kind_namespace_value"
        ),
    )
    with op.batch_alter_table("identifier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identifier_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_identifier_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "profile_note",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.String(length=5000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("profile_note", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_note_profile", ["tenant_id", "profile_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_profile_note_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "profile_order",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("amount_e4", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "order_id", name="uq_profile_order_order"),
    )
    with op.batch_alter_table("profile_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_order_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_profile_order_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "segment_member",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("segment_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
        ),
        sa.PrimaryKeyConstraint("segment_id", "profile_id"),
    )
    with op.batch_alter_table("segment_member", schema=None) as batch_op:
        batch_op.create_index("ix_segment_member_profile", ["tenant_id", "profile_id"], unique=False)

    # Every handle becomes an identifier of kind `handle` (its platform is the namespace), as attested by
    # the platform it was seen on. The ids stay.
    op.execute(
        "INSERT INTO identifier (id, tenant_id, profile_id, kind, namespace, value, value_normalised, "
        "evidence, confidence, source, created_at) "
        "SELECT id, tenant_id, profile_id, 'handle', platform, handle, handle_normalised, 'platform', 1.0, "
        "'migration', created_at FROM handle"
    )
    with op.batch_alter_table("handle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handle_profile_id"))
        batch_op.drop_index(batch_op.f("ix_handle_tenant_id"))
    op.drop_table("handle")

    # Interactions: every one so far is a mention, first attributed to the profile it is on.
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin_profile_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("ref_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("channel_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("excerpt", sa.String(length=280), nullable=True))
        batch_op.add_column(sa.Column("links", sa.JSON(), nullable=True))
        batch_op.alter_column("platform", existing_type=sa.VARCHAR(length=32), nullable=True)
        batch_op.alter_column("intent", existing_type=sa.VARCHAR(length=32), nullable=True)
        batch_op.alter_column("sentiment_label", existing_type=sa.VARCHAR(length=16), nullable=True)
        batch_op.alter_column("sentiment_score", existing_type=sa.FLOAT(), nullable=True)
        batch_op.drop_index(batch_op.f("ix_interaction_profile_created"))
        batch_op.drop_constraint(batch_op.f("uq_interaction_mention"), type_="unique")
    interaction = sa.table(
        "interaction",
        *(sa.column(name, sa.String) for name in ("kind", "ref_id", "mention_id", "profile_id")),
        sa.column("origin_profile_id", sa.String),
        sa.column("links", sa.String),
    )
    links: sa.ColumnElement[str] = (
        sa.literal('{"mention": "/v1/mentions/') + interaction.c.mention_id + sa.literal('"}')
    )
    if op.get_bind().dialect.name == "postgresql":
        links = sa.cast(links, sa.JSON)
    op.execute(
        interaction.update().values(
            kind="mention",
            ref_id=interaction.c.mention_id,
            origin_profile_id=interaction.c.profile_id,
            links=links,
        )
    )
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.alter_column("origin_profile_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("kind", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column("ref_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("links", existing_type=sa.JSON(), nullable=False)
        batch_op.create_index(
            "ix_interaction_profile_occurred", ["tenant_id", "profile_id", "occurred_at", "id"], unique=False
        )
        batch_op.create_unique_constraint("uq_interaction_kind_ref", ["tenant_id", "kind", "ref_id"])
        batch_op.drop_column("mention_id")

    # Profiles: the new columns start empty; the trend starts at the mean of what was counted so far.
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bio", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("sentiment_trend", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("intent_counts", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("languages", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("at_risk", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("order_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lifetime_value", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("merged_into", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE profile SET updated_at = created_at, sentiment_trend = CASE WHEN mention_count > 0 "
        "THEN sentiment_sum / mention_count ELSE 0 END"
    )
    # The defaults served the rows above only: the models give every new row its values.
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        for name in ("sentiment_trend", "intent_counts", "languages", "at_risk", "order_count"):
            batch_op.alter_column(name, server_default=None)
        for name in ("lifetime_value", "attributes", "tags"):
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("tags")
        batch_op.drop_column("attributes")
        batch_op.drop_column("lifetime_value")
        batch_op.drop_column("order_count")
        batch_op.drop_column("at_risk")
        batch_op.drop_column("languages")
        batch_op.drop_column("intent_counts")
        batch_op.drop_column("sentiment_trend")
        batch_op.drop_column("bio")

    # Only mentions were interactions before.
    op.execute("DELETE FROM interaction WHERE kind <> 'mention'")
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mention_id", sa.VARCHAR(length=64), nullable=True))
    op.execute("UPDATE interaction SET mention_id = ref_id")
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.alter_column("mention_id", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.drop_constraint("uq_interaction_kind_ref", type_="unique")
        batch_op.drop_index("ix_interaction_profile_occurred")
        batch_op.create_unique_constraint(batch_op.f("uq_interaction_mention"), ["tenant_id", "mention_id"])
        batch_op.create_index(
            batch_op.f("ix_interaction_profile_created"),
            ["tenant_id", "profile_id", "created_at", "id"],
            unique=False,
        )
        batch_op.alter_column("sentiment_score", existing_type=sa.FLOAT(), nullable=False)
        batch_op.alter_column("sentiment_label", existing_type=sa.VARCHAR(length=16), nullable=False)
        batch_op.alter_column("intent", existing_type=sa.VARCHAR(length=32), nullable=False)
        batch_op.alter_column("platform", existing_type=sa.VARCHAR(length=32), nullable=False)
        batch_op.drop_column("links")
        batch_op.drop_column("excerpt")
        batch_op.drop_column("language")
        batch_op.drop_column("channel_id")
        batch_op.drop_column("ref_id")
        batch_op.drop_column("kind")
        batch_op.drop_column("origin_profile_id")

    op.create_table(
        "handle",
        sa.Column("id", sa.VARCHAR(), nullable=False),
        sa.Column("tenant_id", sa.VARCHAR(), nullable=False),
        sa.Column("profile_id", sa.VARCHAR(), nullable=False),
        sa.Column("platform", sa.VARCHAR(length=32), nullable=False),
        sa.Column("handle_normalised", sa.VARCHAR(length=100), nullable=False),
        sa.Column("handle", sa.VARCHAR(length=100), nullable=False),
        sa.Column("created_at", sa.DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "platform", "handle_normalised", name=op.f("uq_handle_platform_normalised")
        ),
    )
    with op.batch_alter_table("handle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handle_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_handle_profile_id"), ["profile_id"], unique=False)
    # Handles go back (other identifiers have no place there); the rest is lost with the tables.
    op.execute(
        "INSERT INTO handle (id, tenant_id, profile_id, platform, handle_normalised, handle, created_at) "
        "SELECT id, tenant_id, profile_id, namespace, substr(value_normalised, 1, 100), "
        "substr(value, 1, 100), created_at FROM identifier WHERE kind = 'handle'"
    )

    with op.batch_alter_table("segment_member", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_member_profile")

    op.drop_table("segment_member")
    with op.batch_alter_table("profile_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_order_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_profile_order_profile_id"))

    op.drop_table("profile_order")
    with op.batch_alter_table("profile_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_note_tenant_id"))
        batch_op.drop_index("ix_profile_note_profile")

    op.drop_table("profile_note")
    with op.batch_alter_table("identifier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identifier_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_identifier_profile_id"))

    op.drop_table("identifier")
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_tenant_id"))
        batch_op.drop_index("ix_segment_tenant_created")

    op.drop_table("segment")
    with op.batch_alter_table("profile_merge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_merge_tenant_id"))
        batch_op.drop_index("ix_profile_merge_survivor")
        batch_op.drop_index(batch_op.f("ix_profile_merge_merged_id"))

    op.drop_table("profile_merge")
    with op.batch_alter_table("match_suggestion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_suggestion_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_match_suggestion_candidate_id"))

    op.drop_table("match_suggestion")
    with op.batch_alter_table("lifecycle_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lifecycle_change_tenant_id"))
        batch_op.drop_index("ix_lifecycle_change_profile")

    op.drop_table("lifecycle_change")
    with op.batch_alter_table("attribute_definition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attribute_definition_tenant_id"))

    op.drop_table("attribute_definition")
