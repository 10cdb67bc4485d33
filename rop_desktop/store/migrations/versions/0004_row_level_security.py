"""Each account's own database role, and row-level security that enforces blinding in PostgreSQL.

``graders.db_role`` (both backends) names the PostgreSQL login role an account connects as on a
shared study (made by ``rop_desktop.store.pg_roles``; None on SQLite).

PostgreSQL only — SQLite has no roles, and there the app's policy alone protects a study that
lives on one workstation: functions that tell a connection's account from ``session_user`` and
row-level security policies on the tables that hold graders' work. What they enforce mirrors
``rop_desktop.services.policy``:

* ``grades`` / ``annotations``: an account reads its own rows; another grader's rows only when
  that grader has *submitted* the image (never a draft, never the outlines under a draft) and
  the reader may see others' work of the image — the study is not blinded, or the reader has
  submitted the image and the study reveals after submitting (``grading.blinded``,
  ``grading.reveal_after_submit``). Adjudicators and admins read every row. Only the author
  writes a row (admins too, for imports); nobody writes a row under someone else's id.
* ``reference_standard``: read where others' work is visible; a grader writes only a
  vote-settled reference (no ``decided_by``, a vote method) of an image they submitted and may
  see — what the settling after their submit does — and never overwrites a human decision.
* ``predictions``: model output only where the policy shows it (not blinded, assist mode, or
  submitted and revealed).
* ``audit_events``: append-only; a grader inserts events as themselves (or the system's
  reference events), and reads only the columns the change feed needs (granted in
  ``pg_roles``), never before/after values.
* ``study_settings``: a grader changes only their own ``grader.<id>.*`` keys and never reads the
  DICOM export salt; adjudicators also the training schedule and the salt; admins everything.
* ``graders``: an account updates only its own row (which columns: ``pg_roles`` grants); admins
  any.

The tables' owner (the role that runs the migrations) is not bound by the policies: it is the
study's administrator connection. The helper functions are ``SECURITY DEFINER`` (they read
``grades`` and ``graders`` as the owner, which keeps a policy on ``grades`` from recursing into
itself) with a fixed ``search_path`` and schema-qualified names, so nothing a role creates can
stand in for them. Policies and functions are not SQLAlchemy models, so ``compare_metadata``
stays clean.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Reference methods the votes write (``domain.votes.METHODS`` as of this revision).
VOTE_METHODS = ("unanimous", "majority", "hospital_tiebreak", "severity_tiebreak", "ungradable_majority")
#: Settings a grader never reads.
SECRET_SETTINGS = ("dicom_export_salt",)
#: Settings an adjudicator may create / change (beyond their own ``grader.<id>.*`` keys).
REVIEWER_NEW_SETTINGS = ("training.auto_update_every", "dicom_export_salt")
REVIEWER_CHANGED_SETTINGS = ("training.auto_update_every",)

_FUNCTIONS = (
    "rop_account_id()",
    "rop_account_role()",
    "rop_is_reviewer()",
    "rop_is_admin()",
    "rop_grading_setting(text, boolean)",
    "rop_own_submitted(integer)",
    "rop_others_visible(integer)",
    "rop_model_visible(integer)",
    "rop_work_visible(integer, integer)",
)
_POLICY_TABLES = (
    "grades",
    "annotations",
    "reference_standard",
    "predictions",
    "audit_events",
    "study_settings",
    "graders",
)


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _functions(s: str) -> list[str]:
    """The helper functions in schema ``s`` (quoted). Definer functions: fixed search_path."""
    definer = "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
    invoker = "LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp"
    return [
        # the account of this connection: the active account whose db_role logged in
        f"""CREATE FUNCTION {s}.rop_account_id() RETURNS integer {definer} AS $$
            SELECT g.id FROM {s}.graders AS g WHERE g.db_role = session_user::text AND g.active $$""",
        f"""CREATE FUNCTION {s}.rop_account_role() RETURNS text {definer} AS $$
            SELECT g.role FROM {s}.graders AS g WHERE g.db_role = session_user::text AND g.active $$""",
        f"""CREATE FUNCTION {s}.rop_is_reviewer() RETURNS boolean {invoker} AS $$
            SELECT coalesce({s}.rop_account_role() IN ('adjudicator', 'admin'), false) $$""",
        f"""CREATE FUNCTION {s}.rop_is_admin() RETURNS boolean {invoker} AS $$
            SELECT coalesce({s}.rop_account_role() = 'admin', false) $$""",
        # a grading.* setting as Python's bool() of its JSON value; ``fallback`` when never set
        # (other keys read as ``fallback``: no role probes the export salt through this)
        f"""CREATE FUNCTION {s}.rop_grading_setting(setting text, fallback boolean) RETURNS boolean {definer} AS $$
            SELECT coalesce((
                SELECT CASE jsonb_typeof(v)
                    WHEN 'boolean' THEN v = 'true'::jsonb
                    WHEN 'number' THEN v <> '0'::jsonb
                    WHEN 'string' THEN v <> '""'::jsonb
                    WHEN 'array' THEN v <> '[]'::jsonb
                    WHEN 'object' THEN v <> '{{}}'::jsonb
                    ELSE false END
                FROM (SELECT st.value::jsonb AS v FROM {s}.study_settings AS st
                      WHERE st.key = setting AND st.key LIKE 'grading.%') AS found), fallback) $$""",
        f"""CREATE FUNCTION {s}.rop_own_submitted(img integer) RETURNS boolean {definer} AS $$
            SELECT EXISTS (SELECT 1 FROM {s}.grades AS g WHERE g.image_id = img
                           AND g.grader_id = {s}.rop_account_id() AND g.submitted) $$""",
        # policy.OTHERS_WORK_READ for one image
        f"""CREATE FUNCTION {s}.rop_others_visible(img integer) RETURNS boolean {definer} AS $$
            SELECT {s}.rop_is_reviewer()
                OR ({s}.rop_account_id() IS NOT NULL AND (
                    NOT {s}.rop_grading_setting('grading.blinded', true)
                    OR ({s}.rop_grading_setting('grading.reveal_after_submit', true)
                        AND {s}.rop_own_submitted(img)))) $$""",
        # policy.MODEL_OUTPUT_READ for one image
        f"""CREATE FUNCTION {s}.rop_model_visible(img integer) RETURNS boolean {definer} AS $$
            SELECT {s}.rop_others_visible(img)
                OR ({s}.rop_account_id() IS NOT NULL AND {s}.rop_grading_setting('grading.assist_mode', false)) $$""",
        # one grader's work (grade or outline) of one image, as the reader may see it
        f"""CREATE FUNCTION {s}.rop_work_visible(img integer, author integer) RETURNS boolean {definer} AS $$
            SELECT author = {s}.rop_account_id() OR {s}.rop_is_reviewer()
                OR ({s}.rop_others_visible(img) AND EXISTS (
                    SELECT 1 FROM {s}.grades AS g
                    WHERE g.image_id = img AND g.grader_id = author AND g.submitted)) $$""",
    ]


def _policies(s: str) -> list[str]:
    me = f"(SELECT {s}.rop_account_id())"
    reviewer = f"(SELECT {s}.rop_is_reviewer())"
    admin = f"(SELECT {s}.rop_is_admin())"
    own_work = f"(grader_id = {me} OR {admin})"
    vote_ref = (
        f"(method IN ({_sql_list(VOTE_METHODS)}) AND {s}.rop_own_submitted(image_id) "
        f"AND {s}.rop_others_visible(image_id))"
    )
    own_key = f"starts_with(key, 'grader.' || {me}::text || '.')"
    # own rows and the reviewers' first: cheap (each SELECT above runs once per statement)
    readable = {
        "grades": f"grader_id = {me} OR {reviewer} OR (submitted AND {s}.rop_others_visible(image_id))",
        "annotations": f"grader_id = {me} OR {reviewer} OR {s}.rop_work_visible(image_id, grader_id)",
    }
    out = []
    for table, read in readable.items():
        out += [
            f"CREATE POLICY rop_read ON {s}.{table} FOR SELECT USING ({read})",
            f"CREATE POLICY rop_insert ON {s}.{table} FOR INSERT WITH CHECK {own_work}",
            f"CREATE POLICY rop_update ON {s}.{table} FOR UPDATE USING {own_work} WITH CHECK {own_work}",
            f"CREATE POLICY rop_delete ON {s}.{table} FOR DELETE USING {own_work}",
        ]
    out += [
        f"CREATE POLICY rop_read ON {s}.reference_standard FOR SELECT "
        f"USING ({reviewer} OR {s}.rop_others_visible(image_id))",
        f"CREATE POLICY rop_insert ON {s}.reference_standard FOR INSERT "
        f"WITH CHECK ({reviewer} OR (decided_by IS NULL AND {vote_ref}))",
        f"CREATE POLICY rop_update ON {s}.reference_standard FOR UPDATE USING ({reviewer} OR {vote_ref}) "
        f"WITH CHECK ({reviewer} OR (decided_by IS NULL AND {vote_ref}))",
        f"CREATE POLICY rop_delete ON {s}.reference_standard FOR DELETE USING ({reviewer} OR {vote_ref})",
        f"CREATE POLICY rop_read ON {s}.predictions FOR SELECT USING ({reviewer} OR {s}.rop_model_visible(image_id))",
        f"CREATE POLICY rop_insert ON {s}.predictions FOR INSERT "
        f"WITH CHECK ({reviewer} OR {s}.rop_model_visible(image_id))",
        f"CREATE POLICY rop_update ON {s}.predictions FOR UPDATE USING ({reviewer} OR {s}.rop_model_visible(image_id)) "
        f"WITH CHECK ({reviewer} OR {s}.rop_model_visible(image_id))",
        f"CREATE POLICY rop_delete ON {s}.predictions FOR DELETE USING ({reviewer})",
        # rows: all (the change feed); columns: pg_roles grants graders no before/after
        f"CREATE POLICY rop_read ON {s}.audit_events FOR SELECT USING (true)",
        f"CREATE POLICY rop_insert ON {s}.audit_events FOR INSERT WITH CHECK "
        f"({admin} OR grader_id = {me} OR (grader_id IS NULL AND entity = 'reference' AND {me} IS NOT NULL))",
        f"CREATE POLICY rop_read ON {s}.study_settings FOR SELECT USING ({reviewer} OR ({me} IS NOT NULL "
        f"AND key NOT IN ({_sql_list(SECRET_SETTINGS)}) AND (NOT starts_with(key, 'grader.') OR {own_key})))",
        f"CREATE POLICY rop_insert ON {s}.study_settings FOR INSERT WITH CHECK ({admin} OR {own_key} "
        f"OR ({reviewer} AND key IN ({_sql_list(REVIEWER_NEW_SETTINGS)})))",
        f"CREATE POLICY rop_update ON {s}.study_settings FOR UPDATE "
        f"USING ({admin} OR {own_key} OR ({reviewer} AND key IN ({_sql_list(REVIEWER_CHANGED_SETTINGS)}))) "
        f"WITH CHECK ({admin} OR {own_key} OR ({reviewer} AND key IN ({_sql_list(REVIEWER_CHANGED_SETTINGS)})))",
        f"CREATE POLICY rop_delete ON {s}.study_settings FOR DELETE USING ({admin} OR {own_key})",
        f"CREATE POLICY rop_read ON {s}.graders FOR SELECT USING (true)",
        f"CREATE POLICY rop_insert ON {s}.graders FOR INSERT WITH CHECK ({admin})",
        f"CREATE POLICY rop_update ON {s}.graders FOR UPDATE USING ({admin} OR id = {me}) "
        f"WITH CHECK ({admin} OR id = {me})",
        f"CREATE POLICY rop_delete ON {s}.graders FOR DELETE USING ({admin})",
    ]
    return out


def _schema() -> str:
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote_identifier(bind.scalar(sa.text("SELECT current_schema()")))


def upgrade() -> None:
    with op.batch_alter_table("graders") as batch:
        batch.add_column(sa.Column("db_role", sa.String(length=63), nullable=True))
        batch.create_unique_constraint(op.f("uq_graders_db_role"), ["db_role"])
    if op.get_bind().dialect.name != "postgresql":
        return
    s = _schema()
    for statement in _functions(s):
        op.execute(statement)
    for table in _POLICY_TABLES:
        op.execute(f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY")
    for statement in _policies(s):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        s = _schema()
        for table in _POLICY_TABLES:
            for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
                op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.{table}")
            op.execute(f"ALTER TABLE {s}.{table} DISABLE ROW LEVEL SECURITY")
        for function in reversed(_FUNCTIONS):
            op.execute(f"DROP FUNCTION IF EXISTS {s}.{function}")
    with op.batch_alter_table("graders") as batch:
        batch.drop_constraint(op.f("uq_graders_db_role"), type_="unique")
        batch.drop_column("db_role")
