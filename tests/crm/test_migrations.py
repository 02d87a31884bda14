"""Schema migrations: the migrated schema is the models' schema, a database of the first
release is upgraded in place with its data, and upgrading again changes nothing.

Every test runs on SQLite, and on PostgreSQL when CALLCENTER_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, inspect, text
from sqlalchemy.orm import Session

from callcenter.cli import main as callcenter_main
from callcenter.schema import main_db
from crm_store import Store, make_engine
from crm_store.migrations import (
    RELEASED_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    history,
)
from crm_store.models import Base
from crm_store.store import PASSWORD_HASHER
from tests.crm import released_models as released
from tests.crm.conftest import NOW, POSTGRES_URL, StoreFactory

ARRIVED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

EngineFactory = Callable[[], Engine]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_blank_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[EngineFactory]:
    """A factory of engines on fresh, empty databases (no schema at all), cleaned up
    like ``make_store``'s: a SQLite file each, or a PostgreSQL schema each, dropped."""
    engines: list[Engine] = []
    schemas: list[str] = []
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("CALLCENTER_TEST_POSTGRES_URL is not set")
    admin = make_engine(POSTGRES_URL) if request.param == "postgres" else None

    def factory() -> Engine:
        if admin is None:
            engine = make_engine(f"sqlite:///{tmp_path}/blank{len(engines)}/crm.db")
        else:
            schema = "crm_test_" + secrets.token_hex(6)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            engine = make_engine(
                POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}
            )
        engines.append(engine)
        return engine

    yield factory

    for engine in engines:
        engine.dispose()
    if admin is not None:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def differences(engine: Engine, metadata: MetaData = Base.metadata) -> list:
    """What autogenerate would change to make the database match ``metadata``."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_revision(conn)


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def make_released_database(engine: Engine) -> None:
    """What the first release left behind: its create_all, a customer with a phone, an
    agent and a closed contact."""
    released.Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        customer = released.Customer(
            account_number="1815121000", name="Ada Lovelace", company="Analytical Engines",
            tier="vip", email="ada@example.org", notes="likes engines", created_at=ARRIVED,
            phones=[released.CustomerPhone(e164="+15551234567", raw="(555) 123-4567",
                                           kind="work")])
        agent = released.Agent(
            username="agent1", display_name="Agent 1",
            password_hash=PASSWORD_HASHER.hash("pw-agent1"), role="agent",
            extension="1001", interface="PJSIP/1001", skills="support:4",
            created_at=ARRIVED)
        s.add_all([customer, agent])
        s.flush()
        s.add(released.Contact(
            call_id="1762075800.17", direction="inbound", channel="PJSIP/trunk-00000011",
            caller_number="5551234567", caller_e164="+15551234567", dnis="800",
            customer_id=customer.id, arrived_at=ARRIVED, queued_at=ARRIVED,
            answered_at=ARRIVED, ended_at=ARRIVED, queue="support", agent_id=agent.id,
            ivr='[{"node": "menu", "input": "2"}]', outcome="answered", status="closed",
            wait_s=12.5, talk_s=95.0, disposition="resolved", notes="reset password"))


# --------------------------------------------------------------------------- schema


def test_migrations_build_exactly_the_tables_of_the_models(make_store: StoreFactory):
    """Fails when a model changes without a migration (or a migration without the
    model): write the next revision in crm_store/migrations/versions/."""
    store = make_store()  # upgraded from an empty database
    assert revision_of(store.engine) == head_revision()
    assert differences(store.engine) == []


def test_the_comparison_notices_a_column_that_no_migration_adds(make_store: StoreFactory):
    store = make_store()
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["contacts"].append_column(Column("sentiment", String(16), nullable=True))
    found = differences(store.engine, metadata)
    assert [(d[0], d[2], d[3].name) for d in found] == [
        ("add_column", "contacts", "sentiment")
    ]


def test_revisions_start_from_the_released_schema_and_end_at_head():
    revisions = [rev for rev, _ in history()]
    assert revisions[0] == RELEASED_REVISION == "0001"
    assert revisions[-1] == head_revision()
    assert len(revisions) == len(set(revisions))


def test_the_first_revision_is_the_released_schema(make_blank_engine: EngineFactory):
    engine = make_blank_engine()
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), RELEASED_REVISION)
    assert differences(engine, released.Base.metadata) == []


# --------------------------------------------------------------------------- upgrades


def test_a_database_of_the_first_release_is_upgraded_in_place(
    make_blank_engine: EngineFactory,
):
    engine = make_blank_engine()
    make_released_database(engine)
    assert "pin_hash" not in columns(engine, "customers")
    assert revision_of(engine) is None

    store = Store(engine, clock=lambda: NOW)
    assert store.create_schema() == head_revision()

    assert revision_of(engine) == head_revision()
    assert differences(engine) == []
    assert {"pin_hash"} <= columns(engine, "customers")
    assert {"parent_call_id", "callback_at", "callback_number", "transferred_to"} <= columns(
        engine, "contacts")
    assert "agent_state_log" in inspect(engine).get_table_names()

    # The rows are all there, and read back through the store.
    assert store.count_customers() == 1
    card = store.customer_by_account("1815121000")
    assert card is not None and card.name == "Ada Lovelace"
    assert card.phones == ("+15551234567",)
    agent = store.authenticate("agent1", "pw-agent1")
    assert agent is not None and agent.interface == "PJSIP/1001"
    contact = store.contact("1762075800.17")
    assert contact is not None
    assert (contact.customer_id, contact.agent_id) == (card.id, agent.id)
    assert (contact.status, contact.outcome, contact.talk_s) == ("closed", "answered", 95.0)
    assert contact.arrived_at == ARRIVED.timestamp()
    assert (contact.parent_call_id, contact.transferred_to, contact.callback_at) == (
        None, None, None)

    # The new columns and table work on the old rows.
    store.set_account_pin("1815121000", "1000")
    assert store.verify_account_pin("1815121000", "1000")
    assert store.log_agent_states([(agent.id, NOW, "ready", "not_ready", "", None)]) == 1
    assert [e["state"] for e in store.agent_state_log(agent.id)] == ["ready"]


def test_upgrading_twice_changes_nothing(make_store: StoreFactory):
    store = make_store()
    cid = store.add_customer(name="Ada Lovelace", account_number="1815121000",
                             phones=["+1 555 123 4567"])
    before = {t: columns(store.engine, t) for t in inspect(store.engine).get_table_names()}

    assert store.create_schema() == head_revision()
    assert store.create_schema() == head_revision()

    after = {t: columns(store.engine, t) for t in inspect(store.engine).get_table_names()}
    assert after == before
    assert store.count_customers() == 1
    assert store.customer(cid) is not None
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_a_database_already_at_the_models_schema_without_versions_is_stamped_head(
    make_blank_engine: EngineFactory,
):
    engine = make_blank_engine()
    Base.metadata.create_all(engine)  # e.g. made by create_all of a development version
    store = Store(engine, clock=lambda: NOW)
    assert store.create_schema() == head_revision()
    assert differences(engine) == []


def test_downgrade_to_the_released_schema_and_back_keeps_the_rows(
    make_blank_engine: EngineFactory,
):
    engine = make_blank_engine()
    make_released_database(engine)
    store = Store(engine, clock=lambda: NOW)
    store.create_schema()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), RELEASED_REVISION)
    assert differences(engine, released.Base.metadata) == []
    store.create_schema()
    assert store.count_customers() == 1
    card = store.customer_by_account("1815121000")
    assert card is not None and card.phones == ("+15551234567",)
    contact = store.contact("1762075800.17")
    assert contact is not None and contact.customer_id == card.id


def test_in_memory_sqlite_is_migrated_on_its_single_connection():
    engine = make_engine("sqlite://")
    try:
        store = Store(engine)
        assert store.create_schema() == head_revision()
        assert differences(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- command


def db(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main_db(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_db_command_upgrades_a_store_of_the_first_release(tmp_path):
    url = f"sqlite:///{tmp_path}/callcenter-data/callcenter.sqlite"
    engine = make_engine(url)
    make_released_database(engine)
    engine.dispose()
    config = tmp_path / "callcenter.toml"
    config.write_text(f'[store]\nurl = "{url}"\n')
    head = head_revision()

    assert db("current", "--db", url) == (
        0, "none (tables without a revision: run `callcenter db upgrade`)\n", "")
    assert db("upgrade", "--config", str(config)) == (
        0, f"upgraded from unversioned tables to {head} (head)\n", "")
    assert db("--config", str(config), "current") == (0, f"{head} (head)\n", "")
    assert db("upgrade", "--db", url) == (0, f"{head} (head): up to date\n", "")

    store = Store(make_engine(url))
    assert store.count_customers() == 1 and store.contact("1762075800.17") is not None
    store.engine.dispose()


def test_db_command_current_of_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "absent" / "crm.db"
    assert db("current", "--db", f"sqlite:///{path}") == (
        0, f"none (no database at {path})\n", "")
    assert not path.parent.exists()


def test_db_command_reports_what_it_cannot_do(tmp_path):
    code, out, err = db("upgrade", "--config", str(tmp_path / "missing.toml"))
    assert (code, out) == (1, "") and "cannot open the store" in err
    assert db("downgrade")[0] == 2


def test_db_history_lists_the_revisions_through_the_main_command(capsys):
    assert callcenter_main(["db", "history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [rev for rev, _ in history()]
    assert lines[-1].startswith(f"{head_revision()} (head)  ")
