"""Roles and optional passwords, enforced in the services."""

from __future__ import annotations

import hashlib
import base64
import os

import pytest

from rop_desktop.domain.labels import Role
from rop_desktop.services.accounts import (AccountError, AuthenticationError, PermissionDenied, authenticate,
                                           create_grader, has_admin, hash_password, list_accounts, require_role,
                                           set_active, set_password, set_role, set_study_setting, verify_password)
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.services.reference import get_vote_settings, set_vote_settings
from rop_desktop.store import Study, repo

from .conftest import HandStudy


def test_require_role_names_the_grader_the_role_and_the_action(hand: HandStudy) -> None:
    assert require_role(hand.study, hand.adjudicator, Role.ADJUDICATOR, Role.ADMIN).name == "Dr. Judge"
    with pytest.raises(PermissionDenied, match=r"Dr. A is signed in as grader; only the adjudicator or admin "
                                               r"role may settle it"):
        require_role(hand.study, hand.graders["A"], Role.ADJUDICATOR, Role.ADMIN, action="settle it")
    with pytest.raises(PermissionDenied, match="Sign in"):
        require_role(hand.study, None, Role.GRADER)
    set_active(hand.study, hand.admin, hand.adjudicator, False)
    with pytest.raises(PermissionDenied, match="deactivated"):
        require_role(hand.study, hand.adjudicator, Role.ADJUDICATOR)


def test_only_admins_manage_graders_roles_and_settings(hand: HandStudy) -> None:
    a = hand.graders["A"]
    with pytest.raises(PermissionDenied, match="only the admin role may create graders"):
        create_grader(hand.study, a, "Dr. E")
    with pytest.raises(PermissionDenied):
        create_grader(hand.study, None, "Dr. E")  # anonymous, once the study has an admin
    with pytest.raises(PermissionDenied):
        set_role(hand.study, hand.adjudicator, a, Role.ADMIN)
    with pytest.raises(PermissionDenied):
        set_active(hand.study, a, hand.graders["B"], False)
    with pytest.raises(PermissionDenied):
        set_study_setting(hand.study, a, "grading.blinded", False)
    with pytest.raises(PermissionDenied):
        set_vote_settings(hand.study, VoteSettings(tie_rule="severe"), a)
    assert get_vote_settings(hand.study) == VoteSettings()

    set_vote_settings(hand.study, VoteSettings(quorum=3, tie_rule="hospital"), hand.admin)
    assert get_vote_settings(hand.study) == VoteSettings(quorum=3, tie_rule="hospital")
    assert set_role(hand.study, hand.admin, a, Role.ADJUDICATOR).role is Role.ADJUDICATOR
    assert not set_active(hand.study, hand.admin, hand.graders["B"], False).active
    assert create_grader(hand.study, hand.admin, "Dr. E").role is Role.GRADER
    with pytest.raises(AccountError, match="already a grader called 'Dr. E'"):
        create_grader(hand.study, hand.admin, "Dr. E")
    names = {acc.name: acc for acc in list_accounts(hand.study)}
    assert not names["Dr. B"].active and names["Dr. A"].role is Role.ADJUDICATOR
    with hand.study.session() as session:
        actions = [(e.entity, e.action) for e in repo.audit_trail(session) if e.grader_id == hand.admin]
    assert ("setting", "update") in actions and ("grader", "role") in actions and ("grader", "deactivate") in actions


def test_bootstrap_and_the_last_admin_is_kept(tmp_path) -> None:
    with Study.create(tmp_path / "s") as study:
        assert not has_admin(study)
        first = create_grader(study, None, "Founder", Role.ADMIN)
        assert has_admin(study)
        with pytest.raises(AccountError, match="last active admin"):
            set_role(study, first.id, first.id, Role.GRADER)
        with pytest.raises(AccountError, match="last active admin"):
            set_active(study, first.id, first.id, False)
        second = create_grader(study, first.id, "Deputy", Role.ADMIN)
        set_role(study, second.id, first.id, Role.GRADER)
        assert not any(a.role is Role.ADMIN for a in list_accounts(study) if a.id == first.id)


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


def test_optional_passwords_and_authentication(hand: HandStudy) -> None:
    a, b = hand.graders["A"], hand.graders["B"]
    assert authenticate(hand.study, "Dr. A", None).id == a  # no password set: empty password
    with pytest.raises(AuthenticationError):
        authenticate(hand.study, "Dr. A", "anything")
    set_password(hand.study, a, a, "s3cret-pass")  # a grader sets their own
    assert authenticate(hand.study, "Dr. A", "s3cret-pass").id == a
    for wrong in ("s3cret-pasS", "", None):
        with pytest.raises(AuthenticationError, match="wrong password"):
            authenticate(hand.study, "Dr. A", wrong)
    with pytest.raises(AuthenticationError):
        authenticate(hand.study, "Dr. Nobody", "s3cret-pass")
    with pytest.raises(PermissionDenied):
        set_password(hand.study, b, a, "hijacked-pw")  # not another grader's
    set_password(hand.study, hand.admin, a, None)  # an admin may clear it
    assert authenticate(hand.study, "Dr. A", "").id == a
    set_active(hand.study, hand.admin, a, False)
    with pytest.raises(AuthenticationError):
        authenticate(hand.study, "Dr. A", None)
    with hand.study.session() as session:
        stored = [g.password_hash for g in repo.list_graders(session, active_only=False)]
        events = [e for e in repo.audit_trail(session, "grader") if e.action == "password"]
    assert all(h is None or "s3cret" not in h for h in stored)
    assert [(e.before, e.after) for e in events] == [({"password": False}, {"password": True}),
                                                     ({"password": True}, {"password": False})]
