"""``python -m rop_desktop`` in real processes: exit statuses, passwords typed on a terminal, no hang.

The first test runs the commands a site's script would run, with the passwords in the
environment and stdin closed. The second types the admin's password twice on a pseudo-terminal,
as a person at a shell does; the password is never echoed.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN_PW = "typed admin password"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROP_DESKTOP_")}
    env.update(ROP_DESKTOP_HOME=str(tmp_path / "home"), ROP_DESKTOP_NO_RECENT="1", **extra)
    return env


def _rop(tmp_path: Path, *argv: object, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rop_desktop", *map(str, argv)], cwd=REPO, env=_env(tmp_path, **env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)


def test_a_script_signs_in_from_the_environment_and_is_refused_by_role(tmp_path: Path) -> None:
    study = tmp_path / "study"
    assert _rop(tmp_path, "study", "create", study).returncode == 2
    made = _rop(tmp_path, "study", "create", study, "--admin", "Admin", ROP_DESKTOP_PASSWORD=ADMIN_PW)
    assert made.returncode == 0, made.stderr
    added = _rop(tmp_path, "graders", "add", "Dr. B", "--study", study, "--as", "Admin",
                 ROP_DESKTOP_PASSWORD=ADMIN_PW, ROP_DESKTOP_NEW_PASSWORD="")
    assert added.returncode == 0, added.stderr
    refused = _rop(tmp_path, "annotations", "export", "--study", study, "--as", "Dr. B", "--format", "grades_csv",
                   "--reference", tmp_path / "out")
    assert refused.returncode == 2 and "refused" in refused.stderr and not (tmp_path / "out").exists()
    waiting = _rop(tmp_path, "graders", "list", "--study", study, "--as", "Admin")  # no password, no terminal
    assert waiting.returncode == 2 and "ROP_DESKTOP_PASSWORD" in waiting.stderr
    listed = _rop(tmp_path, "graders", "list", "--study", study, "--as", "Dr. B")
    assert listed.returncode == 0 and listed.stdout.split() == ["Admin", "admin", "active", "password",
                                                                "Dr.", "B", "grader", "active", "no", "password"]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")
def test_the_admin_password_is_typed_twice_on_a_terminal(tmp_path: Path) -> None:
    master, slave = os.openpty()
    process = subprocess.Popen(  # a new session: no controlling terminal, so getpass uses the pty on stdin
        [sys.executable, "-m", "rop_desktop", "study", "create", str(tmp_path / "typed"), "--admin", "Typist"],
        cwd=REPO, env=_env(tmp_path), stdin=slave, stdout=subprocess.PIPE, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        screen = _read_until(master, "Password for the admin Typist: ")
        os.write(master, f"{ADMIN_PW}\n".encode())
        screen += _read_until(master, "Type it again: ")
        os.write(master, f"{ADMIN_PW}\n".encode())
        out, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert process.returncode == 0 and b"admin: Typist" in out
    assert ADMIN_PW not in screen  # not echoed
    signed_in = _rop(tmp_path, "graders", "list", "--study", tmp_path / "typed", "--as", "Typist",
                     ROP_DESKTOP_PASSWORD=ADMIN_PW)
    assert signed_in.returncode == 0 and signed_in.stdout.startswith("Typist\tadmin")


def _read_until(fd: int, text: str, timeout: float = 120.0) -> str:
    """What the terminal shows up to and including ``text`` (fails after ``timeout`` seconds)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} on the terminal; it shows {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1024)
            assert chunk, f"the terminal closed before {text!r}; it showed {seen!r}"
            seen += chunk
    return seen.decode(errors="replace")
