"""Schema migrations of the CRM store, run with Alembic.

The revisions are in ``versions/``: ``0001`` is the schema of the first release (what
its ``create_all`` made), each later revision changes it step by step. No ``alembic.ini``
is needed: :func:`alembic_config` points Alembic at this package, and :func:`migrate`
(``Store.create_schema``) runs the migrations on the store's own engine, so an in-memory
SQLite database works too.

After changing ``crm_store/models.py``, write the next revision (SQLite ALTERs go
through ``batch_alter_table``) and check it against the models; the draft can be
generated from a scratch database upgraded to head::

    from alembic import command
    from crm_store.migrations import alembic_config
    cfg = alembic_config(url="sqlite:////tmp/scratch.sqlite")
    command.upgrade(cfg, "head")
    command.revision(cfg, "what changed", autogenerate=True, rev_id="0003")

``tests/crm/test_migrations.py`` fails while the models and the migrations differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from ..models import Base

__all__ = [
    "MIGRATIONS_DIR",
    "RELEASED_REVISION",
    "alembic_config",
    "current_revision",
    "head_revision",
    "history",
    "migrate",
    "upgrade_schema",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent

# The schema of the first release, whose databases have no alembic_version table.
RELEASED_REVISION = "0001"
RELEASED_TABLES = frozenset({"customers", "customer_phones", "agents", "contacts"})


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic configuration for this package's migrations, run on ``connection``
    (in its transaction) or else on a new engine for ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: not under migrations)."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def history() -> list[tuple[str, str]]:
    """Every revision, oldest first: (revision, description)."""
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [(rev.revision, rev.doc or "") for rev in script.walk_revisions()]
    return revisions[::-1]


def migrate(engine: Engine) -> str:
    """Upgrade the database of ``engine`` to the newest revision, in one transaction
    (PostgreSQL's DDL is transactional; SQLite's is not), and return the revision."""
    with engine.connect() as connection:
        with _sqlite_foreign_keys_off(connection):
            with connection.begin():
                return upgrade_schema(connection)


def upgrade_schema(connection: Connection) -> str:
    """Bring the database on ``connection`` to the newest revision and return it.

    An empty database gets every revision. A database made by ``create_all`` (the
    first release had no migrations) is stamped with the revision its tables match
    (``0001``, or head if it already has every table and column) and upgraded from
    there. The caller commits.
    """
    config = alembic_config(connection)
    if current_revision(connection) is None:
        tables = set(inspect(connection).get_table_names())
        if tables & RELEASED_TABLES:
            command.stamp(config, _unversioned_revision(connection))
    command.upgrade(config, "head")
    revision = current_revision(connection)
    assert revision is not None
    return revision


def _unversioned_revision(connection: Connection) -> str:
    context = MigrationContext.configure(connection)
    if not compare_metadata(context, Base.metadata):
        return "head"
    return RELEASED_REVISION


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off while migrating: a batch operation that copies a
    table drops the old one, and with foreign keys on that would fire the ON DELETE
    actions of the rows referencing it. The pragma is ignored inside a transaction, so
    it is set before the migration's and restored after it."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
