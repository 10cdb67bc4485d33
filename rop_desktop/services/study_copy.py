"""Copy a whole study to a new place and backend: SQLite folder ↔ PostgreSQL, either way.

``copy_study(study, admin, dst, dst_url=...)`` reads the open source study (an admin of it
only, :data:`Action.STUDY_COPY`: the copy holds every grade, account and password hash),
creates the destination study (``study.sqlite`` in ``dst``, or the
empty server database ``dst_url``, remembered in ``dst/study.server``), copies every table's
rows with their ids (so audit trails, versions and references stay valid) in one destination
transaction, moves PostgreSQL's id sequences past the copied ids, then copies the folders
``images/``, ``models/`` and ``cache/`` and checks that every table holds as many rows on both
sides. A copy that fails removes what it created, so it can simply be run again.

Copy a study nobody is grading at that moment: rows written during the copy may be missed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from rop_desktop.store import StoreError, Study
from rop_desktop.store.schema import Base
from rop_desktop.store.study import CACHE_DIR, IMAGES_DIR, MODELS_DIR

from .policy import Action, Actor, guarded

BATCH_ROWS = 1000
"""Rows inserted per statement."""

FOLDERS = (IMAGES_DIR, MODELS_DIR, CACHE_DIR)


class StudyCopyError(StoreError):
    """The copy failed; ``reason`` says why. The destination was removed (or never made)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"The study was not copied: {reason}")


@dataclass
class CopySummary:
    """What was copied: rows per table and files per folder."""

    source: str
    destination: str
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A human-readable report, one line per table and folder."""
        out = [f"from: {self.source}", f"to:   {self.destination}"]
        out += [f"  {table}: {n} rows" for table, n in self.rows.items()]
        out += [f"  {folder}/: {n} files" for folder, n in self.files.items()]
        return out


@guarded(Action.STUDY_COPY)
def copy_study(
    study: Study,
    actor: Actor,
    dst: str | Path,
    *,
    dst_url: str | URL | None = None,
    progress: Callable[[str], None] | None = None,
) -> CopySummary:
    """Copy the open ``study`` to a new study in folder ``dst`` (see the module doc); admins only.

    ``dst_url`` puts the copy's database on a server (an empty PostgreSQL database); without it
    the copy is an SQLite study. Raises ``StudyCopyError`` (or ``StudyExistsError`` for an
    occupied destination) and then leaves no partial destination behind. The copy's accounts,
    roles and passwords are the source's.
    """
    report = progress or (lambda _message: None)
    source = study
    dst_root = Path(dst).expanduser().resolve()
    dst_existed = dst_root.exists()
    if dst_existed and (not dst_root.is_dir() or any(dst_root.iterdir())):
        raise StudyCopyError(f"the destination {dst_root} must be a new or empty folder")
    target = Study.create(dst_root, url=dst_url)
    summary = CopySummary(_describe(source), _describe(target))
    try:
        with source.engine.connect() as reader, target.engine.begin() as writer:
            _clear(writer)
            for table in Base.metadata.sorted_tables:
                summary.rows[table.name] = _copy_table(table, reader, writer)
                report(f"{table.name}: {summary.rows[table.name]} rows")
            if writer.dialect.name == "postgresql":
                _advance_sequences(writer)
        for folder in FOLDERS:
            summary.files[folder] = _copy_folder(source.root / folder, target.root / folder)
            report(f"{folder}/: {summary.files[folder]} files")
        _verify(summary, target)
    except BaseException as exc:
        _remove(target, dst_root, dst_existed, dst_url is not None)
        if isinstance(exc, StudyCopyError):
            raise
        if isinstance(exc, (StoreError, OSError, SQLAlchemyError)):
            raise StudyCopyError(str(exc)) from exc
        raise
    target.close()
    return summary


def _describe(study: Study) -> str:
    if study.backend == "sqlite":
        return str(study.root)
    return f"{study.root} (database {study.url.render_as_string(hide_password=True)})"


def _clear(writer: Connection) -> None:
    """Empty the fresh destination (``Study.create`` wrote its name setting)."""
    for table in reversed(Base.metadata.sorted_tables):
        writer.execute(table.delete())


def _copy_table(table: Table, reader: Connection, writer: Connection) -> int:
    order = list(table.primary_key.columns)
    result = reader.execution_options(yield_per=BATCH_ROWS).execute(select(table).order_by(*order))
    copied = 0
    for rows in result.mappings().partitions():
        writer.execute(table.insert(), [dict(row) for row in rows])
        copied += len(rows)
    return copied


def _advance_sequences(writer: Connection) -> None:
    """Ids were given explicitly: move each identity sequence past the largest copied id."""
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not pk[0].autoincrement or pk[0].type.python_type is not int:
            continue
        writer.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:t, :c), "
                f"COALESCE((SELECT max({pk[0].name}) FROM {table.name}), 0) + 1, false)"
            ),
            {"t": table.name, "c": pk[0].name},
        )


def _copy_folder(src: Path, dst: Path) -> int:
    if not src.is_dir():
        return 0
    try:
        shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".tmp-*"))
    except shutil.Error as exc:  # one (source, destination, reason) per file that failed
        failed = exc.args[0]
        first_src, _dst, why = failed[0]
        raise StudyCopyError(
            f"cannot copy {len(failed)} file{'s' if len(failed) > 1 else ''} of {src.name}/ (first: {first_src}: {why})"
        ) from exc
    return sum(1 for p in dst.rglob("*") if p.is_file())


def _verify(summary: CopySummary, target: Study) -> None:
    with target.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            found = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if found != summary.rows[table.name]:
                raise StudyCopyError(
                    f"table {table.name} holds {found} rows after the copy, not {summary.rows[table.name]}"
                )


def _remove(target: Study, root: Path, existed: bool, on_server: bool) -> None:
    """Undo ``Study.create`` and the copy: drop the schema on a server, delete the folder."""
    try:
        if on_server:
            with target.engine.begin() as conn:
                Base.metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        target.close()
        shutil.rmtree(root, ignore_errors=True)  # it was new or empty before the copy
        if existed:
            root.mkdir(exist_ok=True)
