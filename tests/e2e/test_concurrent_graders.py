"""A grader's submissions survive the grader's process dying and the database server going away.

(a) A grader process killed with SIGKILL in the middle of a stream of submissions: every image
    it reported as submitted (it prints ``DONE <id>`` after ``submit`` returned, i.e. after the
    commit) is in the store, submitted, and the SQLite file passes its integrity check.
(b) PostgreSQL only (``ROP_TEST_DB=postgresql`` with the cluster of
    ``scripts/start_test_postgres.sh``): the server is stopped for ~3 s (``pg_ctl stop -m fast``,
    then ``start``; the cluster is kept) while a grader process submits. A lost connection makes
    the service call raise ``sqlalchemy.exc.OperationalError`` (a ``DBAPIError``); the grader loop
    retries the same submit until it succeeds, and nothing it reported as submitted is lost.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from rop_desktop.services.accounts import create_account, create_first_admin
from rop_desktop.services.grading import GradingService, image_ids
from rop_desktop.services.importer import run_import
from rop_desktop.services.policy import Actor
from rop_desktop.store import Study

N_IMAGES = 120
WAIT_S = 40.0
DEFAULT_PG_URL = "postgresql+psycopg://rop_test@127.0.0.1:54329/postgres"

# The grader: submit each image (a valid grade), print "DONE <id>" once submit has returned.
# With --retry, a DBAPIError (lost connection, server down) retries the same submit.
GRADER = r"""
import sys, time
from sqlalchemy.exc import DBAPIError
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.services.accounts import sign_in
from rop_desktop.services.grading import GradingService, image_ids
from rop_desktop.store import Study

folder, grader_name, pace_s, retry = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "retry"
values = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)
study = Study.open(folder)
me = sign_in(study, grader_name, sys.argv[5])
service = GradingService(study, me)
for image in image_ids(study, me):
    while True:
        try:
            service.submit(image, values)
            break
        except DBAPIError as exc:
            if not retry:
                raise
            print("RETRY", type(exc).__name__, flush=True)
            time.sleep(0.1)
    print("DONE", image, flush=True)
    time.sleep(pace_s)
print("FINISHED", flush=True)
"""


class GraderProcess:
    """The grader script in a subprocess, with its ``DONE`` lines collected as they come."""

    def __init__(self, folder: Path, grader_id: Actor, *, pace_s: float, retry: bool) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", GRADER, str(folder), GRADER_NAME, str(pace_s), "retry" if retry else "no",
             GRADER_PASSWORD],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.done: list[int] = []
        self.retries = 0
        self.finished = False

    def _take(self, line: str) -> None:
        word, *rest = line.split()
        if word == "DONE":
            self.done.append(int(rest[0]))
        elif word == "RETRY":
            self.retries += 1
        elif word == "FINISHED":
            self.finished = True

    def wait_until(self, condition: str, predicate: object, timeout: float = WAIT_S) -> None:
        """Read lines until ``predicate()`` holds; fail with the grader's stderr otherwise."""
        assert self.proc.stdout is not None and callable(predicate)
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {condition}")
            readable, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if readable:
                line = self.proc.stdout.readline()
                if line:
                    self._take(line)
                elif self.proc.poll() is not None:
                    self.fail(f"the grader exited ({self.proc.returncode}) before {condition}")

    def drain(self) -> None:
        """After the process ended: take the lines still in the pipe."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout.read().splitlines():
            if line.strip():
                self._take(line)

    def fail(self, reason: str) -> None:
        self.close()
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        pytest.fail(f"{reason}; done={len(self.done)}:\n{stderr[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


GRADER_NAME, GRADER_PASSWORD = "Stream grader", "stream-grader-pw"


def make_study(folder: Path, sources: Path, url: URL | None = None) -> Actor:
    """A study of ``N_IMAGES`` distinct tiny PNGs and one grader; returns the grader's account."""
    sources.mkdir()
    rng = np.random.default_rng(1)
    for i in range(N_IMAGES):
        cv2.imwrite(str(sources / f"img_{i:04d}_OS.png"), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    with Study.create(folder, url=url) as study:
        admin = create_first_admin(study, "Admin", "admin-password")
        assert len(run_import(study, admin, [sources]).imported) == N_IMAGES
        account = create_account(study, admin, GRADER_NAME, password=GRADER_PASSWORD)
        return Actor(account.id, account.name, account.role)


def assert_all_submitted(folder: Path, grader_id: Actor, done: list[int]) -> None:
    """Every reported image is submitted by the grader, and nothing else is half-written."""
    assert done, "the grader reported nothing"
    assert len(set(done)) == len(done)
    with Study.open(folder) as study:
        service = GradingService(study, grader_id)
        status = {row.image_id: row.status for row in service.worklist()}
        assert len(status) == N_IMAGES == len(image_ids(study, grader_id))
    missing = [i for i in done if status[i] != "submitted"]
    assert not missing, f"reported as submitted but not in the store: {missing}"
    assert set(status.values()) <= {"todo", "submitted"}  # submit is one transaction: never a draft


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_grader_keeps_every_reported_submission(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    grader_id = make_study(folder, tmp_path / "sources")
    grader = GraderProcess(folder, grader_id, pace_s=0.01, retry=False)
    try:
        grader.wait_until("20 submissions", lambda: len(grader.done) >= 20)
        os.kill(grader.proc.pid, signal.SIGKILL)
        assert grader.proc.wait(timeout=30) == -signal.SIGKILL
        grader.drain()
    finally:
        grader.close()
    assert not grader.finished, "the grader finished before it was killed: nothing was tested"

    connection = sqlite3.connect(folder / "study.sqlite")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()
    assert_all_submitted(folder, grader_id, grader.done)


# ---------------------------------------------------------------------------------- PostgreSQL
def pg_ctl(*args: str) -> None:
    """``pg_ctl`` on the test cluster of scripts/start_test_postgres.sh (as postgres when root)."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3].split(".")[0]))
    data = Path(os.environ.get("ROP_TEST_PG_DIR", "/tmp/rop-test-pg")) / "data"
    command = [str(bins[-1]), "-D", str(data), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.fixture
def pg_database() -> Iterator[URL]:
    """A fresh database on the test cluster, dropped afterwards."""
    if os.environ.get("ROP_TEST_DB", "sqlite").strip().lower() != "postgresql":
        pytest.skip("PostgreSQL only: set ROP_TEST_DB=postgresql (scripts/start_test_postgres.sh)")
    data = Path(os.environ.get("ROP_TEST_PG_DIR", "/tmp/rop-test-pg")) / "data"
    if not data.is_dir() or not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        pytest.skip(f"the outage test needs the local cluster of scripts/start_test_postgres.sh ({data})")
    admin = make_url(os.environ.get("ROP_TEST_PG_URL", DEFAULT_PG_URL))
    name = f"rop_test_{uuid.uuid4().hex[:16]}"
    engine = create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name)
    finally:
        if not _server_up(engine):  # the test failed during its outage: bring the server back
            pg_ctl("-w", "-t", "60", "-l", str(data.parent / "server.log"), "start")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _server_up(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False


def test_server_outage_loses_no_submission(tmp_path: Path, pg_database: URL) -> None:
    folder = tmp_path / "shared-study"
    grader_id = make_study(folder, tmp_path / "sources", url=pg_database)
    log = Path(os.environ.get("ROP_TEST_PG_DIR", "/tmp/rop-test-pg")) / "server.log"
    grader = GraderProcess(folder, grader_id, pace_s=0.03, retry=True)
    try:
        grader.wait_until("10 submissions", lambda: len(grader.done) >= 10)
        pg_ctl("-m", "fast", "-w", "stop")
        grader.wait_until("a failed submit while the server is down", lambda: grader.retries >= 1)
        time.sleep(3.0)  # the deliberate outage
        pg_ctl("-w", "-t", "60", "-l", str(log), "start")
        grader.wait_until("every image submitted", lambda: grader.finished)
        assert grader.proc.wait(timeout=30) == 0
    finally:
        grader.close()
    assert grader.retries >= 1
    assert sorted(grader.done) == sorted(set(grader.done)) and len(grader.done) == N_IMAGES
    assert_all_submitted(folder, grader_id, grader.done)
