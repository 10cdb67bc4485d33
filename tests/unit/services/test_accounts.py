"""Accounts: roles only from an admin, passwords for elevated accounts, rate-limited sign-in."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from rop_desktop.domain.labels import Role
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.services import accounts
from rop_desktop.services.accounts import (
    FREE_FAILURES,
    AccountError,
    AuthenticationError,
    PermissionDenied,
    change_own_password,
    create_account,
    create_first_admin,
    has_admin,
    hash_password,
    list_accounts,
    needs_password,
    register_grader,
    set_active,
    set_password,
    set_role,
    set_study_setting,
    sign_in,
    sign_in_choices,
    verify_password,
)
from rop_desktop.services.grading import GradingService
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.services.reference import get_vote_settings, set_vote_settings
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Grader

from .conftest import PASSWORD, HandStudy


def test_refusals_name_the_account_its_role_and_what_it_tried(hand: HandStudy) -> None:
    with pytest.raises(AccessDenied, match=r"Dr. A is signed in as grader; only the admin role may manage "
                                           r"accounts"):
        create_account(hand.study, hand.graders["A"], "Dr. E")
    with pytest.raises(AccessDenied, match="Sign in"):
        create_account(hand.study, None, "Dr. E")  # type: ignore[arg-type]
    set_active(hand.study, hand.admin, hand.adjudicator.id, False)
    with pytest.raises(AccessDenied, match="deactivated"):
        set_vote_settings(hand.study, hand.adjudicator, VoteSettings())


def test_only_admins_manage_accounts_roles_and_settings(hand: HandStudy) -> None:
    a = hand.graders["A"]
    with pytest.raises(PermissionDenied):
        set_role(hand.study, hand.adjudicator, a.id, Role.ADMIN)  # an adjudicator cannot promote
    with pytest.raises(PermissionDenied):
        set_role(hand.study, a, a.id, Role.ADMIN)  # nobody promotes themself
    with pytest.raises(PermissionDenied):
        set_active(hand.study, a, hand.graders["B"].id, False)
    with pytest.raises(PermissionDenied):
        set_study_setting(hand.study, a, "grading.blinded", False)
    with pytest.raises(PermissionDenied):
        set_study_setting(hand.study, hand.adjudicator, "grading.assist_mode", True)
    with pytest.raises(PermissionDenied):
        set_vote_settings(hand.study, a, VoteSettings(tie_rule="severe"))
    with pytest.raises(PermissionDenied):
        set_password(hand.study, a, hand.graders["B"].id, "hijacked-pw")
    assert get_vote_settings(hand.study) == VoteSettings()

    set_vote_settings(hand.study, hand.admin, VoteSettings(quorum=3, tie_rule="hospital"))
    assert get_vote_settings(hand.study) == VoteSettings(quorum=3, tie_rule="hospital")
    with pytest.raises(AccountError, match="no password"):
        set_role(hand.study, hand.admin, a.id, Role.ADJUDICATOR)  # elevated accounts need a password first
    set_password(hand.study, hand.admin, a.id, "a-strong-pw")
    assert set_role(hand.study, hand.admin, a.id, Role.ADJUDICATOR).role is Role.ADJUDICATOR
    assert not set_active(hand.study, hand.admin, hand.graders["B"].id, False).active
    assert create_account(hand.study, hand.admin, "Dr. E").role is Role.GRADER
    with pytest.raises(AccountError, match=r"already an account called 'Dr. E'"):
        create_account(hand.study, hand.admin, "Dr. E")
    with pytest.raises(AccountError, match="must have a password"):
        create_account(hand.study, hand.admin, "Dr. F", Role.ADMIN)
    names = {acc.name: acc for acc in list_accounts(hand.study, hand.admin)}
    assert not names["Dr. B"].active and names["Dr. A"].role is Role.ADJUDICATOR
    with hand.study.session() as session:
        actions = [(e.entity, e.action) for e in repo.audit_trail(session) if e.grader_id == hand.admin.id]
    assert ("setting", "update") in actions and ("grader", "role") in actions and ("grader", "deactivate") in actions


def test_a_demoted_actor_loses_its_power_at_once(hand: HandStudy) -> None:
    """The Actor object made at sign-in carries no power: the role is read again on every call."""
    deputy = Actor(create_account(hand.study, hand.admin, "Deputy", Role.ADMIN, password=PASSWORD).id, "Deputy",
                   Role.ADMIN)
    set_study_setting(hand.study, deputy, "grading.assist_mode", False)
    set_role(hand.study, hand.admin, deputy.id, Role.GRADER)
    with pytest.raises(AccessDenied, match="signed in as grader"):
        set_study_setting(hand.study, deputy, "grading.assist_mode", True)
    forged = Actor(hand.graders["A"].id, "Dr. A", Role.ADMIN)  # a grader's id with a claimed admin role
    with pytest.raises(AccessDenied, match="signed in as grader"):
        set_study_setting(hand.study, forged, "grading.blinded", False)
    with pytest.raises(AccessDenied):
        create_account(hand.study, Actor(hand.admin.id, "Not the admin", Role.ADMIN), "X")  # id/name mismatch


def test_first_admin_only_while_the_study_has_none_and_the_last_admin_is_kept(tmp_path, fast_hashes) -> None:
    with Study.create(tmp_path / "s") as study:
        assert not has_admin(study)
        with pytest.raises(AccountError, match="must have a password"):
            create_first_admin(study, "Founder", "")
        first = create_first_admin(study, "Founder", PASSWORD)
        assert has_admin(study) and first.role is Role.ADMIN
        with pytest.raises(AccessDenied, match="already has an admin"):
            create_first_admin(study, "Usurper", PASSWORD)  # no second "first admin"
        with pytest.raises(AccountError, match="last active admin"):
            set_role(study, first, first.id, Role.GRADER)
        with pytest.raises(AccountError, match="last active admin"):
            set_active(study, first, first.id, False)
        second = create_account(study, first, "Deputy", Role.ADMIN, password=PASSWORD)
        set_role(study, Actor(second.id, second.name, second.role), first.id, Role.GRADER)
        assert not any(a.role is Role.ADMIN for a in list_accounts(study, first) if a.id == first.id)


def test_self_registration_is_off_by_default_and_never_elevated(hand: HandStudy) -> None:
    with pytest.raises(AccessDenied, match="does not allow new profiles"):
        register_grader(hand.study, "Sock puppet")  # a fifth vote nobody approved
    assert "Sock puppet" not in {a.name for a in list_accounts(hand.study, hand.admin)}
    set_study_setting(hand.study, hand.admin, accounts.SELF_REGISTRATION_SETTING, True)
    new = register_grader(hand.study, "Dr. New")
    assert new.role is Role.GRADER and sign_in(hand.study, "Dr. New", None) == new
    assert "role" not in register_grader.__code__.co_varnames  # there is no way to ask for another role


def test_password_hash_format_salt_and_verification() -> None:
    stored = hash_password("correct horse")
    scheme, params, salt, key = stored.split("$")
    assert scheme == "scrypt" and params == "n=16384,r=8,p=5"
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert hash_password("correct horse") != stored  # random salt
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    # an independent computation with hashlib gives the same key
    expected = hashlib.scrypt(b"correct horse", salt=base64.b64decode(salt), n=16384, r=8, p=5, dklen=32,
                              maxmem=2 ** 26)
    assert base64.b64decode(key) == expected
    # PBKDF2-HMAC-SHA256 hashes (>= 600k iterations) are verified too
    s = os.urandom(16)
    pbkdf2 = f"pbkdf2_sha256$i=600000${base64.b64encode(s).decode()}$" \
             f"{base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'pw-123456', s, 600_000)).decode()}"
    assert verify_password(pbkdf2, "pw-123456") and not verify_password(pbkdf2, "pw-1234567")
    with pytest.raises(AccountError, match="damaged or of an unknown kind"):
        verify_password("md5$$abc$def", "x")
    with pytest.raises(AccountError, match="damaged"):
        verify_password(pbkdf2.replace("i=600000", "i=1000"), "pw-123456")  # too weak: refused
    with pytest.raises(AccountError, match="at least 8 characters"):
        hash_password("short")


def test_sign_in_passwords_own_and_admin_reset(hand: HandStudy) -> None:
    a = hand.graders["A"]
    assert sign_in(hand.study, "Dr. A", None) == a  # grader without a password (SQLite default)
    with pytest.raises(AuthenticationError):
        sign_in(hand.study, "Dr. A", "anything")
    change_own_password(hand.study, a, None, "s3cret-pass")
    assert sign_in(hand.study, "Dr. A", "s3cret-pass") == a
    with pytest.raises(AuthenticationError, match="current password is wrong"):
        change_own_password(hand.study, a, "guess-guess", "another-pw")
    for wrong in ("s3cret-pasS", "", None):
        with pytest.raises(AuthenticationError, match="wrong password"):
            sign_in(hand.study, "Dr. A", wrong)
    with pytest.raises(AuthenticationError):
        sign_in(hand.study, "Dr. Nobody", "s3cret-pass")
    assert needs_password(hand.study, "Dr. A") and needs_password(hand.study, "Dr. Nobody")
    assert not needs_password(hand.study, "Dr. B")
    assert needs_password(hand.study, "Dr. Judge")
    with pytest.raises(AuthenticationError):
        sign_in(hand.study, "Dr. Judge", None)  # an elevated account never signs in without its password
    set_password(hand.study, hand.admin, a.id, None)  # an admin may clear a grader's
    assert sign_in(hand.study, "Dr. A", "") == a
    with pytest.raises(AccountError, match="must have a password"):
        set_password(hand.study, hand.admin, hand.adjudicator.id, None)
    set_active(hand.study, hand.admin, a.id, False)
    with pytest.raises(AuthenticationError):
        sign_in(hand.study, "Dr. A", None)
    with pytest.raises(AccessDenied, match="deactivated"):
        GradingService(hand.study, a)  # an Actor made before the deactivation is refused too
    assert "Dr. A" not in {g.name for g in sign_in_choices(hand.study)}
    with hand.study.session() as session:
        stored = [g.password_hash for g in repo.list_graders(session, active_only=False)]
        events = [e for e in repo.audit_trail(session, "grader") if e.action == "password"]
    assert all(h is None or "s3cret" not in h for h in stored)
    assert [(e.before, e.after) for e in events] == [({"password": False}, {"password": True}),
                                                     ({"password": True}, {"password": False})]


def test_graders_need_a_password_where_the_study_says_so(hand: HandStudy) -> None:
    set_study_setting(hand.study, hand.admin, accounts.GRADER_PASSWORD_SETTING, True)
    with pytest.raises(AuthenticationError):
        sign_in(hand.study, "Dr. B", None)  # a grader without a password cannot sign in any more
    with pytest.raises(AccountError, match="requires a password"):
        create_account(hand.study, hand.admin, "Dr. E")
    set_password(hand.study, hand.admin, hand.graders["B"].id, "b-password")
    assert sign_in(hand.study, "Dr. B", "b-password") == hand.graders["B"]


def test_wrong_passwords_lock_the_account_for_a_growing_time(hand: HandStudy) -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(AuthenticationError, match="wrong password"):
            sign_in(hand.study, "Dr. Judge", "guess-1234", now=now)
    with pytest.raises(AuthenticationError, match="wrong password"):
        sign_in(hand.study, "Dr. Judge", "guess-1234", now=now)  # the fifth: locked from now on
    with pytest.raises(AuthenticationError, match=r"Too many wrong passwords for Dr. Judge: try again in 3\d s"):
        sign_in(hand.study, "Dr. Judge", PASSWORD, now=now + timedelta(seconds=1))  # even the right one
    later = now + timedelta(seconds=31)
    with pytest.raises(AuthenticationError, match="wrong password"):
        sign_in(hand.study, "Dr. Judge", "guess-1234", now=later)  # the sixth: 60 s
    with pytest.raises(AuthenticationError, match=r"try again in (59|60) s"):
        sign_in(hand.study, "Dr. Judge", PASSWORD, now=later + timedelta(seconds=1))
    assert sign_in(hand.study, "Dr. Judge", PASSWORD, now=later + timedelta(seconds=61)) == hand.adjudicator
    with hand.study.session() as session:
        judge = session.get(Grader, hand.adjudicator.id)
        locks = [e for e in repo.audit_trail(session, "grader") if e.action == "locked"]
        assert judge.failed_sign_ins == 0 and judge.locked_until is None  # a good sign-in clears the count
    assert len(locks) == 2
    # an admin's reset lifts a lock at once
    for _ in range(FREE_FAILURES):
        with pytest.raises(AuthenticationError):
            sign_in(hand.study, "Dr. B", "guess-1234", now=now)
    set_password(hand.study, hand.admin, hand.graders["B"].id, "b-password")
    assert sign_in(hand.study, "Dr. B", "b-password", now=now) == hand.graders["B"]
