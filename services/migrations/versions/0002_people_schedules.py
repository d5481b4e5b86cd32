"""people, shifts, peers, schedules, involvement

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:05:38.736430
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_schedules_name")),
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("site", sa.String(length=32), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("tier1_lead_staff_id", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_units")),
    )
    op.create_table(
        "group_debriefs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_group_debriefs_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_debriefs")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_group_debriefs_incident_id")),
    )
    op.create_table(
        "rotations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("shift_hours", sa.Integer(), nullable=False),
        sa.Column("start_local", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('daily', 'weekly', 'custom')", name=op.f("ck_rotations_kind")),
        sa.CheckConstraint("shift_hours > 0", name=op.f("ck_rotations_positive_shift")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_rotations_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotations")),
        sa.UniqueConstraint("schedule_id", "name", name=op.f("uq_rotations_schedule_id")),
    )
    op.create_table(
        "involvement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_involvement_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.staff_id"], name=op.f("fk_involvement_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_involvement")),
        sa.UniqueConstraint("incident_id", "staff_id", name=op.f("uq_involvement_incident_id")),
    )
    op.create_index(
        op.f("ix_involvement_incident_id"), "involvement", ["incident_id"], unique=False
    )
    op.create_table(
        "rotation_participants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rotation_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["rotation_id"],
            ["rotations.id"],
            name=op.f("fk_rotation_participants_rotation_id_rotations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.staff_id"], name=op.f("fk_rotation_participants_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_participants")),
        sa.UniqueConstraint(
            "rotation_id", "position", name=op.f("uq_rotation_participants_rotation_id")
        ),
    )
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("add_staff_id", sa.String(length=32), nullable=True),
        sa.Column("remove_staff_id", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "add_staff_id IS NOT NULL OR remove_staff_id IS NOT NULL",
            name=op.f("ck_schedule_overrides_does_something"),
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_schedule_overrides_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["add_staff_id"],
            ["staff.staff_id"],
            name=op.f("fk_schedule_overrides_add_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["remove_staff_id"],
            ["staff.staff_id"],
            name=op.f("fk_schedule_overrides_remove_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_overrides_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_overrides")),
    )
    op.create_index(
        op.f("ix_schedule_overrides_schedule_id"),
        "schedule_overrides",
        ["schedule_id"],
        unique=False,
    )
    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_shifts_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.staff_id"], name=op.f("fk_shifts_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.code"], name=op.f("fk_shifts_unit_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint("staff_id", "starts_at", name=op.f("uq_shifts_staff_id")),
    )
    op.create_index("ix_shifts_unit_time", "shifts", ["unit", "starts_at", "ends_at"], unique=False)
    op.add_column("peer_supporters", sa.Column("trained_on", sa.Date(), nullable=True))
    op.add_column(
        "peer_supporters",
        sa.Column("supports", sa.ARRAY(sa.String(length=40)), nullable=False, server_default="{}"),
    )
    op.add_column(
        "peer_supporters",
        sa.Column(
            "languages", sa.ARRAY(sa.String(length=8)), nullable=False, server_default="{en}"
        ),
    )
    op.drop_column("peer_supporters", "on_call")
    op.add_column(
        "staff", sa.Column("role", sa.String(length=60), nullable=False, server_default="")
    )
    op.add_column(
        "staff", sa.Column("opted_out", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # Staff loaded before units existed: give each home unit a row before the key binds them.
    op.execute(
        "INSERT INTO units (code, name, site, time_zone, active) "
        "SELECT DISTINCT home_unit, home_unit, 'main', 'America/New_York', true FROM staff "
        "ON CONFLICT DO NOTHING"
    )
    op.create_foreign_key(
        "fk_units_tier1_lead_staff", "units", "staff", ["tier1_lead_staff_id"], ["staff_id"]
    )
    op.create_foreign_key(
        op.f("fk_staff_home_unit_units"), "staff", "units", ["home_unit"], ["code"]
    )

    # Reasons name the schedule, unit, discipline, language and load behind each choice.
    op.alter_column("pages", "reason", type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    op.alter_column("pages", "reason", type_=sa.String(length=200), existing_nullable=False)
    op.drop_constraint("fk_units_tier1_lead_staff", "units", type_="foreignkey")
    op.drop_constraint(op.f("fk_staff_home_unit_units"), "staff", type_="foreignkey")
    op.drop_column("staff", "opted_out")
    op.drop_column("staff", "role")
    op.add_column(
        "peer_supporters",
        sa.Column("on_call", sa.BOOLEAN(), nullable=False, server_default=sa.false()),
    )
    op.drop_column("peer_supporters", "languages")
    op.drop_column("peer_supporters", "supports")
    op.drop_column("peer_supporters", "trained_on")
    op.drop_index("ix_shifts_unit_time", table_name="shifts")
    op.drop_table("shifts")
    op.drop_index(op.f("ix_schedule_overrides_schedule_id"), table_name="schedule_overrides")
    op.drop_table("schedule_overrides")
    op.drop_table("rotation_participants")
    op.drop_index(op.f("ix_involvement_incident_id"), table_name="involvement")
    op.drop_table("involvement")
    op.drop_table("rotations")
    op.drop_table("group_debriefs")
    op.drop_table("units")
    op.drop_table("schedules")
