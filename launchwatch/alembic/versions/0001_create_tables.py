"""Create the checks, results, check_state, incidents and result_rollups tables.

Revision ID: 0001
Revises:
Create Date: 2024-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from launchwatch.monitor.tables, so this
# revision keeps creating the same schema when the models change later.
_TIMESTAMP = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("removed_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "results",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("findings_dropped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_results_check_id_started_at", "results", ["check_id", "started_at"])
    op.create_index("ix_results_started_at", "results", ["started_at"])
    op.create_table(
        "check_state",
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("since", _TIMESTAMP, nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("consecutive_successes", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(), nullable=False),
        sa.Column("last_reason", sa.String(), nullable=False),
        sa.Column("last_run_at", _TIMESTAMP, nullable=False),
        sa.Column("last_duration_s", sa.Float(), nullable=False),
        sa.Column("last_findings", sa.Text(), nullable=False),
        sa.Column("open_incident_id", _BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint("check_id"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("opened_at", _TIMESTAMP, nullable=False),
        sa.Column("resolved_at", _TIMESTAMP, nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_check_id_opened_at", "incidents", ["check_id", "opened_at"])
    op.create_table(
        "result_rollups",
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("hour", _TIMESTAMP, nullable=False),
        sa.Column("pass_count", sa.Integer(), nullable=False),
        sa.Column("warn_count", sa.Integer(), nullable=False),
        sa.Column("fail_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("duration_sum_s", sa.Float(), nullable=False),
        sa.Column("duration_min_s", sa.Float(), nullable=False),
        sa.Column("duration_max_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("check_id", "hour"),
    )


def downgrade() -> None:
    op.drop_table("result_rollups")
    op.drop_index("ix_incidents_check_id_opened_at", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("check_state")
    op.drop_index("ix_results_started_at", table_name="results")
    op.drop_index("ix_results_check_id_started_at", table_name="results")
    op.drop_table("results")
    op.drop_table("checks")
