"""Schema helpers for clinic-owned tables: same-clinic references enforced by the database.

A row of clinic A must never point at a row of clinic B (a patient, an appointment...): it would be
sealed under A's key, shown in A's pages and left behind by B's erasure. The ORM stamps and
filters `clinic_id`, but a foreign key on `patient_id` alone accepts any clinic's patient. So every
reference from a clinic-owned table to another clinic-owned table is a composite foreign key
`(clinic_id, <column>) -> <parent>(clinic_id, id)`, refused by SQLite and PostgreSQL alike; the
parent carries a unique "clinic key" on `(clinic_id, id)` for it to point at.

In models::

    from carnet_core.db.schema import clinic_key, same_clinic

    class Visit(ClinicOwned, table=True):
        __tablename__ = "hello_visit"
        __table_args__ = (clinic_key("hello_visit"),              # others may point at a visit
                          same_clinic("patient_id", "core_patient"))
        id: int | None = Field(default=None, primary_key=True)
        patient_id: int = Field(index=True)       # no foreign_key=: same_clinic() is the key

In migrations (`op.create_table(..., same_clinic("patient_id", "core_patient"))` for a new table,
or for an existing one)::

    from carnet_core.db.schema import create_clinic_key, reference_same_clinic

    create_clinic_key(op, "hello_visit")
    reference_same_clinic(op, "hello_note", {"visit_id": "hello_visit", "patient_id": "core_patient"})

`tests/test_schema_contract.py` fails, naming the fix, when a clinic-owned table references
another one without such a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

CLINIC_KEY_COLUMNS = ("clinic_id", "id")


def clinic_key_name(table: str) -> str:
    return f"uq_{table}_clinic_key"


def reference_name(table: str, column: str, parent: str) -> str:
    """The foreign key's name: the one a single-column key on `column` had (naming convention;
    shortened with a hash like the convention's names where PostgreSQL's 63 characters need it)."""
    return conv(f"fk_{table}_{column}_{parent}")


def clinic_key(table: str) -> sa.Index:
    """The unique `(clinic_id, id)` index same-clinic references point at (in `__table_args__`)."""
    return sa.Index(clinic_key_name(table), *CLINIC_KEY_COLUMNS, unique=True)


def same_clinic(column: str, parent: str, **kwargs: Any) -> sa.ForeignKeyConstraint:
    """`(clinic_id, column) -> parent(clinic_id, id)`: the referenced row must be of the same clinic.

    For `__table_args__` (named by the naming convention, like a plain foreign key on `column`)
    and for `op.create_table(...)` in migrations. `kwargs` go to the constraint (e.g. `ondelete`)."""
    return sa.ForeignKeyConstraint(
        ["clinic_id", column], [f"{parent}.clinic_id", f"{parent}.id"], info={"same_clinic": True}, **kwargs
    )


def create_clinic_key(op: Any, table: str) -> None:
    """Migration: give an existing clinic-owned table its clinic key (no table rebuild)."""
    op.create_index(clinic_key_name(table), table, list(CLINIC_KEY_COLUMNS), unique=True)


def drop_clinic_key(op: Any, table: str) -> None:
    op.drop_index(clinic_key_name(table), table_name=table)


def reference_same_clinic(op: Any, table: str, references: Mapping[str, str]) -> None:
    """Migration: turn `table`'s references `{column: parent}` into same-clinic composite keys.

    A plain foreign key on the column is replaced (same name). On SQLite the table is rebuilt in
    batch mode with its rows: recreate its triggers afterwards if it has any. The parents need
    their clinic key first (`create_clinic_key`)."""
    existing = _plain_keys(op, table)
    with op.batch_alter_table(table) as batch:
        for column, parent in references.items():
            for name in existing.get((column, parent), []):
                batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(
                reference_name(table, column, parent), parent, ["clinic_id", column], ["clinic_id", "id"]
            )


def reference_any_clinic(op: Any, table: str, references: Mapping[str, str]) -> None:
    """Migration (downgrade): back from `reference_same_clinic` to plain foreign keys."""
    with op.batch_alter_table(table) as batch:
        for column, parent in references.items():
            batch.drop_constraint(reference_name(table, column, parent), type_="foreignkey")
            batch.create_foreign_key(reference_name(table, column, parent), parent, [column], ["id"])


def _plain_keys(op: Any, table: str) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for fk in sa.inspect(op.get_bind()).get_foreign_keys(table):
        if len(fk["constrained_columns"]) == 1 and fk.get("name"):
            found.setdefault((fk["constrained_columns"][0], fk["referred_table"]), []).append(fk["name"])
    return found


def is_same_clinic(fk: sa.ForeignKeyConstraint) -> bool:
    """Whether a foreign key binds the clinic: `clinic_id` maps onto the parent's `clinic_id`."""
    pairs = {(e.parent.name, e.column.name) for e in fk.elements}
    return ("clinic_id", "clinic_id") in pairs and len(pairs) == 2


# Columns that name a patient without a foreign key, on purpose.
UNREFERENCED_PATIENT_COLUMNS = {
    # audit records are append-only and must stay verifiable whatever happens to the rows they name
    "core_audit.patient_id": "audit records outlive what they name",
}


def unscoped_references(metadata: sa.MetaData, owned: set[str]) -> list[str]:
    """Columns of clinic-owned tables pointing at a clinic-owned table without a same-clinic key,
    `patient_id` columns without any key, and parents lacking their clinic key, each with the fix
    (for the schema contract test and `carnet plugins check`)."""
    problems: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in owned:
            continue
        keyed_columns: set[str] = set()
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table.name
            columns = [c for c in fk.column_keys if c != "clinic_id"]
            keyed_columns.update(columns)
            if parent not in owned:
                continue
            if not is_same_clinic(fk):
                problems.append(
                    f"{table.name}.{', '.join(fk.column_keys)} references {parent} of any clinic: declare it "
                    f"with same_clinic({fk.column_keys[0]!r}, {parent!r}) in __table_args__ instead of "
                    "foreign_key= (carnet_core.db.schema), and migrate with reference_same_clinic()"
                )
            elif not has_clinic_key(fk.referred_table):
                problems.append(
                    f"{parent} is referenced by {table.name}.{columns[0]} but has no clinic key: add "
                    f"clinic_key({parent!r}) to its __table_args__ and create_clinic_key(op, {parent!r}) "
                    "in a migration"
                )
        unreferenced = "patient_id" in table.c and "patient_id" not in keyed_columns
        if unreferenced and f"{table.name}.patient_id" not in UNREFERENCED_PATIENT_COLUMNS:
            problems.append(
                f"{table.name}.patient_id names a patient without a foreign key: declare "
                "same_clinic('patient_id', 'core_patient') in __table_args__ (carnet_core.db.schema)"
            )
    return problems


def has_clinic_key(table: sa.Table) -> bool:
    wanted = list(CLINIC_KEY_COLUMNS)
    return any(ix.unique and [c.name for c in ix.columns] == wanted for ix in table.indexes) or any(
        isinstance(c, sa.UniqueConstraint) and [col.name for col in c.columns] == wanted for c in table.constraints
    )


# --- start-up checks of the models core and the loaded plugins declare -----------------------------


class SchemaError(RuntimeError):
    """A model breaks the schema contract; the message names each table and the fix."""


def tables_by_owner(host: Any) -> dict[str, list[tuple[type, sa.Table]]]:
    """The mapped tables of core (`"core"`) and of each loaded plugin, by the package defining them."""
    from sqlmodel.main import default_registry

    packages = {}
    for name, info in host.plugins.items():
        package = "carnet_core" if name == "core" else getattr(info.module, "__package__", None)
        if package:
            packages[package] = name
    found: dict[str, list[tuple[type, sa.Table]]] = {}
    for mapper in default_registry.mappers:
        module = getattr(mapper.class_, "__module__", "") or ""
        for package, name in packages.items():
            if module == package or module.startswith(package + "."):
                found.setdefault(name, []).append((mapper.class_, mapper.local_table))
                break
    return found


def schema_problems(host: Any) -> list[str]:
    """What the models of core and the loaded plugins get wrong, each with the fix: a table without
    its `<plugin>_` prefix, a sealed column on a table that is not clinic-owned, a reference between
    clinic rows that the database does not keep within one clinic."""
    from sqlmodel import SQLModel

    from carnet_core.db.base import ClinicOwned
    from carnet_core.encryption.types import Sealed

    problems: list[str] = []
    owned: set[str] = set()
    for plugin, tables in sorted(tables_by_owner(host).items()):
        for cls, table in tables:
            if not table.name.startswith(f"{plugin}_"):
                problems.append(
                    f"plugin '{plugin}': table '{table.name}' ({cls.__name__}) must be named '{plugin}_…' "
                    f"(e.g. __tablename__ = '{plugin}_{table.name}') so migrations, drift checks and "
                    "key rotation find it; rename it and its migration"
                )
            sealed = [c.name for c in table.columns if isinstance(c.type, Sealed)]
            if issubclass(cls, ClinicOwned):
                owned.add(table.name)
            elif sealed:
                problems.append(
                    f"table '{table.name}' ({cls.__name__}) has sealed columns {', '.join(sealed)} but is not "
                    "clinic-owned: inherit carnet_core.db.ClinicOwned (a sealed value is bound to its clinic's "
                    "key and erased with it)"
                )
    problems.extend(unscoped_references(SQLModel.metadata, owned))
    return problems


def check_schema(host: Any) -> None:
    """Fail at start when the models break the schema contract (`schema_problems`)."""
    from carnet_core.db.migrate import import_models

    import_models(host)
    problems = schema_problems(host)
    if problems:
        raise SchemaError("the models break the schema contract:\n- " + "\n- ".join(problems))


# --- row-level security (PostgreSQL): a second line under the ORM's clinic filter ----------------

RLS_POLICY = "carnet_clinic"
# The session's settings, evaluated once per statement (scalar subqueries become InitPlans), so
# an index on clinic_id still serves and the policy costs no function call per row.
RLS_CONDITION = (
    "clinic_id = (SELECT NULLIF(current_setting('carnet.clinic_id', true), '')::integer) "
    "OR (SELECT current_setting('carnet.unscoped', true)) = 'on'"
)


def enable_clinic_rls(op: Any, table: str) -> None:
    """Migration: on PostgreSQL, rows of `table` are visible and writable only for the clinic the
    transaction is bound to (`carnet.clinic_id`, set by every CarnetSession) or to an explicitly
    unscoped session (`carnet.unscoped`), even for raw SQL. FORCE applies it to the table owner
    too. Superusers and BYPASSRLS roles are never subject to it: the application must connect as
    (or `CARNET_DATABASE_ROLE` to) a role without them. No-op on SQLite (the ORM layer alone)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(f'DROP POLICY IF EXISTS {RLS_POLICY} ON "{table}"')
    op.execute(f'CREATE POLICY {RLS_POLICY} ON "{table}" USING ({RLS_CONDITION}) WITH CHECK ({RLS_CONDITION})')


def disable_clinic_rls(op: Any, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP POLICY IF EXISTS {RLS_POLICY} ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')


def rls_bypass(db: Any) -> str | None:
    """Why row-level security would not hold for this database's connections, with the fix: on
    PostgreSQL, a current role that is a superuser or has BYPASSRLS (the policies do not apply to
    it, so raw SQL is no longer clinic-scoped). None when the policies apply, and on SQLite."""
    if db.engine.dialect.name != "postgresql":
        return None
    with db.engine.connect() as conn:  # the connection's role: CARNET_DATABASE_ROLE once set
        user, superuser, bypass = conn.exec_driver_sql(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).one()
    if not (superuser or bypass):
        return None
    what = "a superuser" if superuser else "a role with BYPASSRLS"
    return (
        f"the application works on PostgreSQL as '{user}', {what}: row-level security does not apply "
        "to it, so raw SQL is not limited to the session's clinic; connect as a role created with "
        "NOSUPERUSER NOBYPASSRLS, or set CARNET_DATABASE_ROLE to such a role (docs/DEVELOPING.md, "
        "Deployment)"
    )


def tables_without_rls(connection: Any, tables: set[str]) -> list[str]:
    """Of the given clinic-owned tables, those PostgreSQL does not guard with the clinic policy
    (enabled, forced, policy present), each with the fix."""
    rows = connection.exec_driver_sql(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %(policy)s) "
        "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'",
        {"policy": RLS_POLICY},
    ).all()
    state = {name: (enabled and forced and policy) for name, enabled, forced, policy in rows}
    return [
        f"{name}: no row-level security; call enable_clinic_rls(op, {name!r}) (carnet_core.db.schema) "
        "in the migration that creates it"
        for name in sorted(tables) if not state.get(name)
    ]


# --- rows the database refuses to change (accounting records, issued documents, append-only logs)

TRIGGER_EVENTS = ("INSERT", "UPDATE", "DELETE")


def _changed_columns(op: Any, table: str, dialect: str, unless_only: tuple[str, ...]) -> str:
    """SQL true when an UPDATE changes a column of `table` other than `unless_only`."""
    if dialect == "postgresql":
        kept = "ARRAY[" + ", ".join(f"'{c}'" for c in unless_only) + "]::text[]"
        return f"(to_jsonb(NEW) - {kept}) IS DISTINCT FROM (to_jsonb(OLD) - {kept})"
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns(table) if c["name"] not in unless_only]
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)


def refuse_changes(
    op: Any,
    table: str,
    name: str,
    *,
    message: str,
    events: tuple[str, ...] = ("UPDATE", "DELETE"),
    when: str | None = None,
    unless_only: tuple[str, ...] = (),
) -> None:
    """Migration: the database itself refuses `events` on rows of `table`, whoever writes (the way
    audit rows, issued invoices and payments are made immutable), on SQLite and PostgreSQL alike.

    `when`: an SQL condition under which the change is refused (always, when None). It may read
    `OLD` (UPDATE, DELETE), `NEW` (INSERT, UPDATE) and query other tables, e.g.
    ``"(SELECT status FROM billing_note WHERE id = OLD.note_id) = 'issued'"``; write it in the
    SQL both databases share. `unless_only`: columns an UPDATE may still change alone (key
    rotation re-sealing a `Sealed` column rewrites ciphertext only): an UPDATE that changes no
    other column passes. On SQLite the other columns are those `table` has when the migration
    runs: a later migration adding a column calls `drop_refusals` and `refuse_changes` again.

    One trigger per event, named `<name>_<event>` (`<name>_update`…), raising `message` (English,
    for logs and operators: say what is refused and the fix). On PostgreSQL each trigger calls a
    PL/pgSQL function of the same name, raising SQLSTATE 42501 (insufficient_privilege).
    """
    dialect = op.get_bind().dialect.name
    quoted = message.replace("'", "''")
    for event in events:
        if event not in TRIGGER_EVENTS:
            raise ValueError(f"refuse_changes: unknown event {event!r}; use {', '.join(TRIGGER_EVENTS)}")
        conditions = [f"({when})"] if when else []
        if event == "UPDATE" and unless_only:
            conditions.append(f"({_changed_columns(op, table, dialect, tuple(unless_only))})")
        condition = " AND ".join(conditions)
        trigger = f"{name}_{event.lower()}"
        if dialect == "postgresql":
            returned = "OLD" if event == "DELETE" else "NEW"
            op.execute(
                f"CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n  IF {condition or 'TRUE'} THEN\n"
                f"    RAISE EXCEPTION USING MESSAGE = '{quoted}', ERRCODE = 'insufficient_privilege';\n"
                f"  END IF;\n  RETURN {returned};\nEND\n$$"
            )
            op.execute(
                f'CREATE TRIGGER {trigger} BEFORE {event} ON "{table}" FOR EACH ROW EXECUTE FUNCTION {trigger}()'
            )
        else:
            guard = f" WHEN {condition}" if condition else ""
            op.execute(
                f'CREATE TRIGGER {trigger} BEFORE {event} ON "{table}"{guard} '
                f"BEGIN SELECT RAISE(ABORT, '{quoted}'); END"
            )


def drop_refusals(op: Any, table: str, name: str, events: tuple[str, ...] = ("UPDATE", "DELETE")) -> None:
    """Migration: remove the triggers (and PostgreSQL functions) `refuse_changes` created."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in events:
        trigger = f"{name}_{event.lower()}"
        if postgres:
            op.execute(f'DROP TRIGGER IF EXISTS {trigger} ON "{table}"')
            op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
