"""PostgreSQL: the identity table (migration 0006) is the admins' alone, whatever a role tries."""

from __future__ import annotations

from pathlib import Path

import pytest

from rop_desktop.domain.labels import Role
from rop_desktop.services import identity
from rop_desktop.services.policy import AccessDenied
from rop_desktop.store.pg_roles import group_names

from .test_row_level_security import Shared, _refused, _rowcount, _rows, shared  # noqa: F401 - the fixture


def test_only_the_admins_role_reads_or_writes_the_identity_table(shared: Shared, tmp_path: Path) -> None:
    held = shared.owner("SELECT count(*) FROM identities")[0][0]
    assert held > 0  # the images' file names and paths at least
    for name in ("Dr. B", "Dr. Judge"):
        role = shared.psql(name)
        assert "permission denied" in _refused(role, "SELECT value FROM identities")
        assert "permission denied" in _refused(role, "INSERT INTO identities (patient_id, kind, value, digest, "
                                                     "source, created_at) VALUES (1, 'patient_id', 'x', 'x', 'file', "
                                                     "now())")
        assert "permission denied" in _refused(role, "DELETE FROM identities")
    admin = shared.psql("Admin")
    assert len(_rows(admin, "SELECT value FROM identities")) == held
    assert _rowcount(admin, "UPDATE identities SET source = source") == held
    # and through the app: the judge's own connection is refused by the policy before the server
    with pytest.raises(AccessDenied, match="only the admin role"):
        identity.export_mapping(shared.as_account("Dr. Judge"), shared.actors["Dr. Judge"], tmp_path / "x.csv")
    written = identity.export_mapping(shared.as_account("Admin"), shared.admin, tmp_path / "mapping.csv")
    assert written.rows == held


def test_a_grant_made_by_hand_still_meets_the_row_policy(shared: Shared) -> None:
    """Row-level security stands behind the grants: a reviewer group granted the table by hand
    (a mistake of a database administrator) still reads no row of it."""
    reviewers = group_names(shared.study.url.database)[Role.ADJUDICATOR]
    shared.owner(f'GRANT SELECT ON identities TO "{reviewers}"')
    assert _rows(shared.psql("Dr. Judge"), "SELECT value FROM identities") == []
