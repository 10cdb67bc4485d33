"""Everything the menus do, headless: ``reference recompute`` and ``export annotations|report`` run
through the real ``rop-desktop`` entry point, as a coordinator scripts them and as a grader trying
to get more than their own work would (refused: exit status 2, nothing written, nothing changed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rop_desktop.domain.votes import VoteSettings
from rop_desktop.services.accounts import sign_in
from rop_desktop.services.reference import set_vote_settings
from rop_desktop.store import Study, repo

from .conftest import ADMIN_PW, JUDGE_PW, Cli, CliStudy


def _references(folder: Path) -> dict[int, str]:
    with Study.open(folder) as study, study.session() as session:
        return {r.image_id: r.method for r in repo.list_references(session)}


def _quorum_of_two(folder: Path) -> None:
    """Dr. A and Dr. B both submitted img0: with a quorum of two, the votes settle it."""
    with Study.open(folder) as study:
        set_vote_settings(study, sign_in(study, "Admin", ADMIN_PW), VoteSettings(quorum=2))


def test_reference_recompute_settles_and_says_how_many_changed(cli_study: CliStudy, cli: Cli) -> None:
    study = ("--study", cli_study.folder)
    _quorum_of_two(cli_study.folder)
    assert _references(cli_study.folder) == {}
    first = cli("reference", "recompute", *study, "--as", "Dr. Judge", password=JUDGE_PW)
    assert first.code == 0, first.err
    assert first.out.splitlines()[0].startswith("changed: 1 image(s) (1 newly settled")
    assert "examined: 3" in first.out and "too few votes: 2" in first.out
    assert list(_references(cli_study.folder)) == [cli_study.images["img0.png"]]
    again = cli("reference", "recompute", *study, "--as", "Admin", password=ADMIN_PW)
    assert again.code == 0 and again.out.startswith("changed: 0 image(s)")


def test_a_grader_cannot_recompute_nor_export_what_is_not_theirs(cli_study: CliStudy, cli: Cli,
                                                                  tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    _quorum_of_two(cli_study.folder)
    refused = cli("reference", "recompute", *study, "--as", "Dr. A")
    assert refused.code == 2 and "refused" in refused.err and "adjudicator or admin" in refused.err
    assert _references(cli_study.folder) == {}  # nothing settled behind the refusal
    attempts = {
        "others": ("export", "annotations", "--format", "labelme", "--graders", "Dr. B"),
        "mixed": ("export", "annotations", "--format", "via", "--graders", "Dr. A", "Dr. B"),
        "reference": ("export", "annotations", "--format", "coco", "--reference"),
        "comments": ("export", "annotations", "--format", "grades_csv", "--include-comments"),
        "csv": ("export", "reference"),
        "report": ("export", "report"),
        "old-spelling": ("annotations", "export", "--format", "labelme", "--graders", "Dr. B"),
    }
    for name, argv in attempts.items():
        out = tmp_path / name
        if argv[0] == "annotations":
            done = cli(*argv, *study, "--as", "Dr. A", out)
        else:
            done = cli(*argv, *study, "--as", "Dr. A", "--out", out)
        assert done.code == 2, (name, done.out, done.err)
        assert not out.exists(), name  # refused before anything was written
    wrong = cli("reference", "recompute", *study, "--as", "Dr. Judge", password="not it")
    assert wrong.code == 2 and "cannot sign in" in wrong.err


def test_export_annotations_takes_a_format_and_opens_in_the_tools(cli_study: CliStudy, cli: Cli,
                                                                   tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    own = cli("export", "annotations", *study, "--as", "Dr. A", "--format", "labelme", "--out", tmp_path / "lm")
    assert own.code == 0, own.err
    assert "images: copied without their metadata" in own.out  # labelme needs them: always written
    files = sorted((tmp_path / "lm").glob("*.json"))
    assert len(files) == 3
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert (path.parent / doc["imagePath"]).is_file() and "/" not in doc["imagePath"]
        assert {s["description"] for s in doc["shapes"]} <= {"Dr. A"}  # never Dr. B's outlines
    via = cli("export", "annotations", *study, "--as", "Dr. Judge", "--format", "via", "--out", tmp_path / "via",
              password=JUDGE_PW)
    assert via.code == 0, via.err
    assert {p.name for p in (tmp_path / "via").iterdir()} == {"via_project.json", "via_regions.json",
                                                              "via_regions.csv", "images"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each sub-command's ``--help``, on one line."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: " ".join(sub.format_help().split()) for name, sub in action.choices.items()}


def test_every_headless_command_documents_its_exit_statuses() -> None:
    from rop_desktop import cli_export, cli_reference

    helps = {**_subcommands(cli_export.parser()), **_subcommands(cli_reference.parser())}
    assert {"dicom", "annotations", "reference", "snapshot", "report", "recompute"} <= set(helps)
    for name, text in helps.items():
        assert "exit status: 0 done" in text and "2 refused, nothing done" in text, name
    assert "--format {via,labelme,coco,masks,grades_csv}" in helps["annotations"]
    assert "via_regions.csv" in helps["annotations"]


def test_export_report_needs_a_model_version(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    none = cli("export", "report", "--study", cli_study.folder, "--as", "Dr. Judge", "--out", tmp_path / "r",
               password=JUDGE_PW)
    assert none.code == 2 and "no model version" in none.err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_export_report_writes_html_and_pdf(demo_study_dir: Path, cli: Cli, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN, DEMO_PASSWORDS
    from rop_desktop.services.models import ModelService
    from rop_desktop.services.reference import recompute_references
    from training.bundle import ModelCard, save_bundle
    from training.models import create_model
    from training.presets import get_preset

    torch.manual_seed(0)
    model = create_model("tiny_cnn", num_classes=1, in_channels=3, pretrained=False)
    card = ModelCard.for_model(model, "tiny ROP", classes=["no ROP", "ROP"], threshold=0.5,
                               preset=get_preset("fast", image_size=48).to_dict(), config={"task": "binary"})
    bundle = save_bundle(tmp_path / "bundle", model, card)
    with Study.open(demo_study_dir) as study:
        admin = sign_in(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])
        recompute_references(study, admin)
        version = ModelService(study, admin).register(bundle).id
    study = ("--study", demo_study_dir)
    missing = cli("export", "report", *study, "--as", DEMO_ADJUDICATOR, "--version", version + 7,
                  "--out", tmp_path / "x", password=DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    assert missing.code == 2 and f"#{version} tiny ROP" in missing.err and not (tmp_path / "x").exists()
    done = cli("export", "report", *study, "--as", DEMO_ADJUDICATOR, "--pdf", "--device", "cpu",
               "--out", tmp_path / "report", password=DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    assert done.code == 0, done.err
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "tiny ROP" in html and "Agreement between graders" in html
    assert (tmp_path / "report" / "report.pdf").read_bytes().startswith(b"%PDF")
    assert f"model version: #{version}" in done.out
