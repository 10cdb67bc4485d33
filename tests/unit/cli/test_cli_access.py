"""The command line as an attacker would try it: who may import, export and manage accounts.

Every call goes through ``rop_desktop.cli.run`` with the passwords in the environment, as a
script would run it; stdin is not a terminal, so a missing password must end the command
(exit 2), never wait for input.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from rop_desktop.cli import run
from rop_desktop.domain.labels import Role, Stage
from rop_desktop.services.accounts import list_accounts, sign_in
from rop_desktop.store import Study, repo

from .conftest import ADMIN_PW, JUDGE_PW, Cli, CliStudy, drop_database_roles


def _grade_of(study: Study, grader: str, image: int) -> tuple[Stage | None, bool] | None:
    with study.session() as session:
        g = next((g for g in repo.list_graders(session, active_only=False) if g.name == grader), None)
        row = repo.grade_for(session, image, g) if g is not None else None
        return (row.values.stage, row.submitted) if row is not None else None


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _grades_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("image,rop,stage,quality\n" + "".join(f"{i},{r},{s},gradable\n" for i, r, s in rows),
                    encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- signing in
def test_no_valid_account_no_action(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    out = tmp_path / "out"
    export = ("annotations", "export", *study, "--format", "grades_csv", out)
    refused = [
        (cli(*export), "--as NAME"),                                              # nobody named
        (cli(*export, "--as", "Dr. Judge"), "set ROP_DESKTOP_PASSWORD"),          # no password, no terminal
        (cli(*export, "--as", "Dr. Judge", password="wrong password"), "wrong password"),
        (cli(*export, "--as", "Dr. Nobody", password=JUDGE_PW), "Unknown account name"),
        (cli(*export, "--as", "Admin", password=JUDGE_PW), "wrong password"),     # someone else's password
    ]
    for outcome, reason in refused:
        assert outcome.code == 2 and reason in outcome.err and not outcome.out, outcome
    assert not out.exists()
    assert cli("graders", "deactivate", "Dr. Judge", *study, "--as", "Admin", password=ADMIN_PW).code == 0
    gone = cli(*export, "--as", "Dr. Judge", password=JUDGE_PW)
    assert gone.code == 2 and "deactivated account" in gone.err and not out.exists()
    assert cli("graders", "reactivate", "Dr. Judge", *study, "--as", "Admin", password=ADMIN_PW).code == 0
    assert cli(*export, "--as", "Dr. Judge", password=JUDGE_PW).code == 0 and (out / "grades.csv").is_file()


def test_wrong_passwords_lock_the_account_until_an_admin_resets_it(cli_study: CliStudy, cli: Cli) -> None:
    listing = ("graders", "list", "--study", cli_study.folder, "--as", "Dr. Judge")
    for _ in range(5):
        assert cli(*listing, password="guess guess").code == 2
    locked = cli(*listing, password=JUDGE_PW)  # the right one, too late
    assert locked.code == 2 and "Too many wrong passwords" in locked.err
    reset = cli("graders", "set-password", "Dr. Judge", "--study", cli_study.folder, "--as", "Admin",
                password=ADMIN_PW, new_password="a new judge password")
    assert reset.code == 0
    assert cli(*listing, password="a new judge password").code == 0


# ---------------------------------------------------------------------------- exports
def test_a_grader_exports_only_their_own_work(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    as_b = ("--study", cli_study.folder, "--as", "Dr. B")
    for who in (("--graders", "Dr. A", "Dr. B"), ("--graders", "Dr. A"), ("--reference",)):
        out = tmp_path / f"theirs{len(who)}"
        refused = cli("annotations", "export", *as_b, "--format", "grades_csv", out, *who)
        assert refused.code == 2 and "refused" in refused.err and not out.exists()
    drafts = cli("annotations", "export", *as_b, "--format", "labelme", "--include-drafts", tmp_path / "drafts",
                 "--graders", "Dr. A")
    assert drafts.code == 2 and not (tmp_path / "drafts").exists()
    mine = cli("annotations", "export", *as_b, "--format", "grades_csv", tmp_path / "mine")
    assert mine.code == 0
    assert [r["grader"] for r in _csv_rows(tmp_path / "mine" / "grades.csv")] == ["Dr. B"]
    labelme = cli("annotations", "export", *as_b, "--format", "labelme", tmp_path / "mine-lm")
    assert labelme.code == 0
    shapes = [s for p in (tmp_path / "mine-lm").glob("*.json") for s in json.loads(p.read_text())["shapes"]]
    assert [s["description"] for s in shapes] == ["Dr. B"]  # not Dr. A's, not B's own unsubmitted outline


def test_labelme_export_leaves_out_unsubmitted_outlines(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    done = cli("annotations", "export", "--study", cli_study.folder, "--as", "Admin", "--format", "labelme",
               tmp_path / "lm", password=ADMIN_PW)
    assert done.code == 0
    shapes = {p.name: json.loads(p.read_text())["shapes"] for p in (tmp_path / "lm").glob("*.json")}
    assert sorted(s["description"] for ss in shapes.values() for s in ss) == ["Dr. A", "Dr. B"]  # img0 only
    with_drafts = cli("annotations", "export", "--study", cli_study.folder, "--as", "Dr. Judge", "--format",
                      "labelme", "--include-drafts", tmp_path / "lm-drafts", password=JUDGE_PW)
    assert with_drafts.code == 0
    count = sum(len(json.loads(p.read_text())["shapes"]) for p in (tmp_path / "lm-drafts").glob("*.json"))
    assert count == 3


# ---------------------------------------------------------------------------- imports
def test_a_grader_cannot_import_into_another(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    file = _grades_csv(tmp_path / "a.csv", [("img0.png", "no", "0"), ("img2.png", "no", "0")])
    for who in (("--as", "Dr. B"), ("--as", "Dr. A"), ("--as", "Dr. Judge")):
        for target in (("--into-grader", "Dr. A"), ()):
            refused = cli("annotations", "import", "--study", cli_study.folder, *who, "--format", "grades_csv",
                          *target, file, password=JUDGE_PW)
            assert refused.code == 2 and "only the admin role may import annotations" in refused.err
    with cli_study.open() as study, study.session() as session:
        assert _grade_of(study, "Dr. A", cli_study.images["img0.png"]) == (Stage.S2, True)
        assert _grade_of(study, "Dr. A", cli_study.images["img2.png"]) is None
        assert not [g for g in repo.list_graders(session, active_only=False) if g.name.startswith("imported")]


def test_into_grader_never_overwrites_submitted_work(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    file = _grades_csv(tmp_path / "dr_a_elsewhere.csv",
                       [("img0.png", "yes", "3"), ("img1.png", "no", "0"), ("img2.png", "yes", "1")])
    done = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
               "--into-grader", "Dr. A", file, password=ADMIN_PW)
    assert done.code == 1
    assert "CONFLICTS" in done.out and "img0.png: Dr. A submitted other work, kept (stage: 2 → 3)" in done.out
    i = cli_study.images
    with cli_study.open() as study:
        assert _grade_of(study, "Dr. A", i["img0.png"]) == (Stage.S2, True)    # kept
        assert _grade_of(study, "Dr. A", i["img1.png"]) == (Stage.S0, True)    # the draft was replaced
        assert _grade_of(study, "Dr. A", i["img2.png"]) == (Stage.S1, True)
        admin = sign_in(study, "Admin", ADMIN_PW)
        with study.session() as session:
            events = [e for e in repo.audit_trail(session, "grade") if e.action == "import"]
    assert len(events) == 2 and {e.grader_id for e in events} == {admin.id}
    replaced = next(e for e in events if e.before is not None)
    assert replaced.before["values"]["stage"] == "1" and replaced.before["submitted"] is False
    assert replaced.after["target"] == "Dr. A" and replaced.after["source"] == "dr_a_elsewhere.csv"
    assert replaced.after["values"]["stage"] == "0" and replaced.after["submitted"] is True


def test_the_deprecated_grader_option_follows_the_same_rules(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    file = _grades_csv(tmp_path / "old.csv", [("img0.png", "no", "0")])
    done = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
               "--grader", "Dr. A", file, password=ADMIN_PW)
    assert done.code == 1 and "deprecated" in done.err and "Dr. A submitted other work" in done.out
    unknown = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
                  "--grader", "Somebody New", file, password=ADMIN_PW)
    assert unknown.code == 2 and "no account called 'Somebody New'" in unknown.err


def test_a_default_import_lands_under_its_own_account(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    file = _grades_csv(tmp_path / "site_b.csv", [("img0.png", "no", "0"), ("img2.png", "yes", "1")])
    done = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
               file, password=ADMIN_PW)
    assert done.code == 0 and "new accounts: imported: site_b.csv" in done.out
    with cli_study.open() as study:
        assert _grade_of(study, "imported: site_b.csv", cli_study.images["img0.png"]) == (Stage.S0, True)
        assert _grade_of(study, "imported: site_b.csv", cli_study.images["img2.png"]) == (Stage.S1, True)
        assert _grade_of(study, "Dr. A", cli_study.images["img0.png"]) == (Stage.S2, True)
    impostor = cli("graders", "list", "--study", cli_study.folder, "--as", "imported: site_b.csv", password="")
    assert impostor.code == 2  # nobody signs in as an import
    again = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
                file, password=ADMIN_PW)
    assert again.code == 0 and "new accounts" not in again.out  # the same account, reused


# ---------------------------------------------------------------------------- accounts
def test_graders_commands_are_an_admins(cli_study: CliStudy, cli: Cli) -> None:
    study = ("--study", cli_study.folder)
    for who, pw in (("Dr. B", None), ("Dr. Judge", JUDGE_PW)):
        for argv in (("add", "Dr. Sneaky", "--role", "admin"), ("set-role", who, "--role", "admin"),
                     ("set-password", "Admin"), ("deactivate", "Admin")):
            refused = cli("graders", *argv, *study, "--as", who, password=pw, new_password="sneaky password")
            assert refused.code == 2 and "only the admin role may manage accounts" in refused.err, argv
    listing = cli("graders", "list", *study, "--as", "Dr. B")
    assert listing.code == 0 and "Admin\tadmin\tactive\tpassword" in listing.out and "Dr. Sneaky" not in listing.out
    with cli_study.open() as study_now:
        admin = sign_in(study_now, "Admin", ADMIN_PW)
        roles = {a.name: a.role for a in list_accounts(study_now, admin)}
    assert roles == {"Admin": Role.ADMIN, "Dr. A": Role.GRADER, "Dr. B": Role.GRADER, "Dr. Judge": Role.ADJUDICATOR}


def test_a_new_admin_signs_in_and_roles_need_passwords(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    as_admin = ("--as", "Admin")
    no_pw = cli("graders", "add", "Second", "--role", "admin", *study, *as_admin, password=ADMIN_PW, new_password="")
    assert no_pw.code == 2 and "must have a password" in no_pw.err
    unset = cli("graders", "add", "Second", "--role", "admin", *study, *as_admin, password=ADMIN_PW)
    assert unset.code == 2 and "ROP_DESKTOP_NEW_PASSWORD" in unset.err
    added = cli("graders", "add", "Second", "--role", "admin", *study, *as_admin, password=ADMIN_PW,
                new_password="second admin pw")
    assert added.code == 0 and "added: Second (admin, password)" in added.out
    file = _grades_csv(tmp_path / "by_second.csv", [("img2.png", "yes", "1")])
    imported = cli("annotations", "import", *study, "--as", "Second", "--format", "grades_csv", file,
                   password="second admin pw")
    assert imported.code == 0
    promote = cli("graders", "set-role", "Dr. A", "--role", "adjudicator", *study, "--as", "Second",
                  password="second admin pw")
    assert promote.code == 2 and "set one before" in promote.err
    assert cli("graders", "set-password", "Dr. A", *study, "--as", "Second", password="second admin pw",
               new_password="dr a password").code == 0
    assert cli("graders", "set-role", "Dr. A", "--role", "adjudicator", *study, "--as", "Second",
               password="second admin pw").code == 0
    judge_a = cli("annotations", "export", *study, "--as", "Dr. A", "--format", "grades_csv", "--reference",
                  tmp_path / "ref", password="dr a password")
    assert judge_a.code == 0
    demoted = cli("graders", "set-role", "Admin", "--role", "grader", *study, "--as", "Second",
                  password="second admin pw")
    assert demoted.code == 0
    gone = cli("graders", "list", *study, "--as", "Admin", password=ADMIN_PW)
    assert gone.code == 0  # still an account, signs in as a grader
    cannot = cli("graders", "deactivate", "Second", *study, "--as", "Admin", password=ADMIN_PW)
    assert cannot.code == 2 and "only the admin role" in cannot.err
    last = cli("graders", "deactivate", "Second", *study, "--as", "Second", password="second admin pw")
    assert last.code == 2 and "last active admin" in last.err


def test_image_import_is_an_admins(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"  # the fixture's images: all duplicates, if it were allowed
    for who, pw in (("Dr. Judge", JUDGE_PW), ("Dr. B", None)):
        refused = cli("import", "--study", cli_study.folder, "--as", who, "--quiet", src, password=pw)
        assert refused.code == 2 and "only the admin role may import images" in refused.err
    assert cli("import", "--study", cli_study.folder, "--quiet", src).code == 2  # no --as
    assert cli("import", "--study", cli_study.folder, "--as", "Admin", "--quiet", src, password=ADMIN_PW).code == 0


def test_study_create_gives_an_old_study_its_first_admin_once(tmp_path: Path, cli: Cli,
                                                              request: pytest.FixtureRequest) -> None:
    Study.create(tmp_path / "old").close()  # made before roles existed: no admin
    request.addfinalizer(lambda: drop_database_roles(tmp_path / "old"))
    assert cli("study", "create", tmp_path / "old").code == 2
    first = cli("study", "create", tmp_path / "old", "--admin", "Keeper", password=ADMIN_PW)
    assert first.code == 0 and "it had no admin" in first.out
    second = cli("study", "create", tmp_path / "old", "--admin", "Usurper", password=ADMIN_PW)
    assert second.code == 2 and "already holds a study with an admin" in second.err
    assert cli("graders", "list", "--study", tmp_path / "old", "--as", "Keeper", password=ADMIN_PW).out.split() == \
        ["Keeper", "admin", "active", "password"]
    unset = cli("study", "create", tmp_path / "new", "--admin", "Boss")  # no password, no terminal
    assert unset.code == 2 and "ROP_DESKTOP_PASSWORD" in unset.err and not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["study create", "study copy", "import", "graders add", "annotations import",
                                     "annotations export"])
def test_every_help_states_its_exit_statuses(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run([*command.split(), "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0 and "exit status: 0 done;" in text and "2 refused, nothing done" in text


def test_on_postgresql_each_account_change_reaches_its_database_role(cli_study: CliStudy, cli: Cli,
                                                                     _backend: str) -> None:
    study = ("--study", cli_study.folder, "--as", "Admin")
    added = cli("graders", "add", "Dr. C", *study, password=ADMIN_PW, new_password="dr c password")
    assert added.code == 0
    if _backend != "postgresql":
        assert "database role" not in added.out  # a study on one workstation has none
        return
    assert "database role: rop_" in added.out

    def login(name: str) -> bool:
        with cli_study.open() as opened, opened.engine.connect() as conn:
            role = conn.scalar(text("SELECT db_role FROM graders WHERE name = :n"), {"n": name})
            return bool(role) and bool(conn.scalar(text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"),
                                                   {"r": role}))

    assert login("Admin") and login("Dr. C") and login("Dr. Judge")  # study create made the admin's
    assert cli("graders", "deactivate", "Dr. C", *study, password=ADMIN_PW).code == 0
    assert not login("Dr. C")
    assert cli("graders", "reactivate", "Dr. C", *study, password=ADMIN_PW).code == 0
    assert login("Dr. C")
