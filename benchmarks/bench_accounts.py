"""Accounts for benchmark studies: the study's first admin and graders, made through the services.

Benchmarks act as real accounts (the access policy runs on every call, as in the app), with
fixed throw-away passwords: benchmark studies are temporary and hold synthetic or public data.
"""

from __future__ import annotations

from rop_desktop.domain.labels import Role
from rop_desktop.services.accounts import create_account, create_first_admin, has_admin, sign_in
from rop_desktop.services.policy import Actor
from rop_desktop.store import Study

ADMIN, ADMIN_PASSWORD = "Bench admin", "bench-admin-pw"
GRADER_PASSWORD = "bench-grader-pw"


def bench_admin(study: Study) -> Actor:
    """The benchmark study's admin (made on first use)."""
    if not has_admin(study):
        return create_first_admin(study, ADMIN, ADMIN_PASSWORD)
    return sign_in(study, ADMIN, ADMIN_PASSWORD)


def bench_grader(study: Study, name: str, role: Role = Role.GRADER) -> Actor:
    """A new account (password :data:`GRADER_PASSWORD`, so it also works on PostgreSQL studies)."""
    account = create_account(study, bench_admin(study), name, role, password=GRADER_PASSWORD)
    return Actor(account.id, account.name, account.role)
