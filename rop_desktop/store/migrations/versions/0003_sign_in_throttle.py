"""Wrong passwords are rate-limited: failed sign-ins and a lock-out time per account.

``graders.failed_sign_ins`` counts wrong passwords since the last good one;
``graders.locked_until`` (UTC) refuses every sign-in of the account until then, however
the password is tried (window, command line, another workstation). See
``rop_desktop.services.accounts.sign_in``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("graders") as batch:
        batch.add_column(sa.Column("failed_sign_ins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("graders") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_sign_ins")
