"""A study is a folder: ``study.sqlite`` + ``images/`` + ``models/`` + ``cache/``.

A *shared* study keeps its database on a server (PostgreSQL) instead of ``study.sqlite``: the
folder (on a share every workstation mounts) then holds ``study.server``, one line with the
database URL *without a password* (credentials come from the user's pgpass / service file or
keyring, never from the study), next to the same ``images/``, ``models/`` and ``cache/``.

Images are content-addressed copies, ``images/ab/abcdef….png`` named by their SHA-256, written
atomically (temp file, fsync, ``os.replace``), so a crash never leaves half an image behind and
importing the same bytes twice stores them once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import migrate
from .db import database_url, make_engine, make_session_factory, session_scope, without_password
from .errors import ImageStoreError, StudyExistsError, StudyOpenError
from .schema import Image, StudySetting

DB_NAME = "study.sqlite"
SERVER_FILE = "study.server"
IMAGES_DIR = "images"
MODELS_DIR = "models"
CACHE_DIR = "cache"
NAME_SETTING = "study.name"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXT = re.compile(r"[a-z0-9]{1,8}")


class Study:
    """An open study. Use ``create``, ``open`` or ``open_or_create``; ``close`` when done."""

    def __init__(self, root: Path, engine: Engine) -> None:
        """Wrap an already migrated database; prefer the class methods."""
        self.root = root
        self.engine = engine
        self.session_factory: sessionmaker[Session] = make_session_factory(engine)

    # --- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, name: str | None = None, *, url: str | URL | None = None) -> Study:
        """Make a new study in ``path`` (created if needed; must not already hold a study).

        ``url`` puts the database on a server (PostgreSQL) instead of ``study.sqlite``: the
        database must be empty, and the folder remembers the URL (without its password) in
        ``study.server`` so that ``Study.open(path)`` finds it again.
        """
        root = Path(path).expanduser().resolve()
        for marker in (DB_NAME, SERVER_FILE):
            if (root / marker).exists():
                raise StudyExistsError(f"{root} already holds a study ({marker}); open it instead")
        if root.exists() and not root.is_dir():
            raise StudyOpenError(root, "the path is a file, not a folder")
        if url is not None and migrate.stored_revisions(url):
            raise StudyExistsError(
                f"the database {server_location(url)} already holds a study; "
                "open it instead (or give an empty database)"
            )
        root.mkdir(parents=True, exist_ok=True)
        study = cls._connect(root, url)
        if url is not None:
            write_server_file(root, url)
        try:
            with study.session() as session:
                session.merge(StudySetting(key=NAME_SETTING, value=name or root.name))
        except IntegrityError:
            pass  # another workstation creating the same study at this moment named it first
        return study

    @classmethod
    def open(cls, path: str | Path, *, url: str | URL | None = None) -> Study:
        """Open an existing study folder (or its ``study.sqlite``), upgrading its schema.

        Without ``url``, the folder's ``study.sqlite`` is used, else the server named in its
        ``study.server``. Raises ``StudyOpenError`` (not a study, unreadable database) or
        ``StudyTooNewError`` (saved by a newer app; the database is left untouched).
        """
        root = Path(path).expanduser().resolve()
        if root.is_file() and root.name in (DB_NAME, SERVER_FILE):
            root = root.parent
        if not root.is_dir():
            raise StudyOpenError(root, "no such folder")
        if url is None and (root / DB_NAME).is_file() and (root / SERVER_FILE).is_file():
            raise StudyOpenError(
                root,
                f"the folder holds both {DB_NAME} and {SERVER_FILE}; "
                "move one away so that it is clear which database is the study",
            )
        if url is None and not (root / DB_NAME).is_file():
            url = read_server_file(root)
            if url is None:
                raise StudyOpenError(
                    root, f"the folder is not a ROP Desktop study (it has no {DB_NAME} and no {SERVER_FILE})"
                )
        if url is not None and not migrate.stored_revisions(url):
            raise StudyOpenError(
                server_location(url),
                "the database holds no ROP Desktop study (create one with Study.create or 'rop-desktop study copy')",
            )
        return cls._connect(root, url)

    @classmethod
    def open_or_create(cls, path: str | Path, name: str | None = None, *, url: str | URL | None = None) -> Study:
        """Open the study in ``path``, or create one there if the folder holds none."""
        root = Path(path).expanduser().resolve()
        if url is None and ((root / DB_NAME).is_file() or (root / SERVER_FILE).is_file()):
            return cls.open(root)
        if url is not None and root.is_dir() and migrate.stored_revisions(url):
            return cls.open(root, url=url)
        return cls.create(root, name, url=url)

    @classmethod
    def _connect(cls, root: Path, url: str | URL | None) -> Study:
        target: str | Path | URL = url if url is not None else root / DB_NAME
        migrate.upgrade(target)  # checks the schema version before writing anything
        for sub in (IMAGES_DIR, MODELS_DIR, CACHE_DIR):
            (root / sub).mkdir(exist_ok=True)
        return cls(root, make_engine(target, pool_pre_ping=url is not None))

    def close(self) -> None:
        """Release every database connection (the WAL is checkpointed by SQLite)."""
        self.engine.dispose()

    def __enter__(self) -> Study:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Study({str(self.root)!r})"

    # --- database ------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The database dialect: ``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def url(self) -> URL:
        """The database URL (its password, if any, hidden when rendered as text)."""
        return self.engine.url

    def session(self) -> AbstractContextManager[Session]:
        """A unit of work: ``with study.session() as s: ...`` commits, or rolls back on error."""
        return session_scope(self.session_factory)

    @property
    def name(self) -> str:
        """The study's display name (a study setting; the folder name by default)."""
        with self.session() as session:
            setting = session.get(StudySetting, NAME_SETTING)
            return str(setting.value) if setting is not None else self.root.name

    # --- folders -------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """Where a SQLite study keeps its database (absent for a study on a server)."""
        return self.root / DB_NAME

    @property
    def images_dir(self) -> Path:
        return self.root / IMAGES_DIR

    @property
    def models_dir(self) -> Path:
        return self.root / MODELS_DIR

    @property
    def cache_dir(self) -> Path:
        return self.root / CACHE_DIR

    def image_path(self, image: Image | str) -> Path:
        """The absolute path of an image row's file (or of a file name relative to images/)."""
        return _inside(self.images_dir, image.file if isinstance(image, Image) else image)

    def model_path(self, bundle_path: str) -> Path:
        """The absolute path of a model bundle given relative to models/."""
        return _inside(self.models_dir, bundle_path)

    def cache_path(self, relative: str) -> Path:
        """The absolute path of a cached file (thumbnail, mask) given relative to cache/."""
        return _inside(self.cache_dir, relative)

    def store_image_bytes(self, data: bytes, sha256: str, ext: str) -> str:
        """Store ``data`` under its SHA-256 and return the file name relative to images/.

        Idempotent: bytes already stored are not written again. Raises ``ImageStoreError`` when
        ``sha256`` is not the data's hash or ``ext`` is not a plain extension.
        """
        sha = sha256.lower()
        suffix = ext.lower().lstrip(".")
        if not _SHA256.fullmatch(sha):
            raise ImageStoreError(f"{sha256!r} is not a SHA-256 hex digest")
        if not _EXT.fullmatch(suffix):
            raise ImageStoreError(f"{ext!r} is not a file extension (letters and digits, e.g. 'png')")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise ImageStoreError(f"the data's SHA-256 is {actual}, not {sha}: refusing to store it")
        relative = f"{sha[:2]}/{sha}.{suffix}"
        target = self.images_dir / sha[:2] / f"{sha}.{suffix}"
        if target.is_file() and target.stat().st_size == len(data):
            return relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, data)
        return relative

    def iter_image_files(self) -> Iterator[Path]:
        """Every stored image file (for integrity checks and clean-up)."""
        return (p for p in self.images_dir.glob("??/*") if p.is_file() and not p.name.startswith("."))


def server_location(url: str | URL) -> str:
    """The URL as text without its password, fit for a message or the ``study.server`` file."""
    return without_password(url).render_as_string(hide_password=False)


def write_server_file(root: Path, url: str | URL) -> None:
    """Remember a server study's URL in ``root/study.server``, never with a password."""
    _atomic_write(root / SERVER_FILE, (server_location(url) + "\n").encode())


def read_server_file(root: Path) -> URL | None:
    """The URL in ``root/study.server``, or None when the folder has none."""
    file = root / SERVER_FILE
    if not file.is_file():
        return None
    text = file.read_text(encoding="utf-8").strip()
    if "://" not in text:
        raise StudyOpenError(
            file, "the file does not hold a database URL (one line, e.g. postgresql+psycopg://user@host/db)"
        )
    return database_url(text)


def _inside(base: Path, relative: str) -> Path:
    """``base / relative``, refusing absolute paths and ``..`` that would leave ``base``."""
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts or ":" in parts[0]:
        raise ValueError(f"{relative!r} is not a path inside {base}")
    return base.joinpath(*parts)


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ImageStoreError(f"cannot write {target}: {exc}") from exc
        raise
