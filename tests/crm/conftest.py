"""Stores for the CRM tests: every test runs on SQLite, and on PostgreSQL when
CALLCENTER_TEST_POSTGRES_URL is set (each test in a schema of its own)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text

from crm_store import Store, make_engine

POSTGRES_URL = os.environ.get("CALLCENTER_TEST_POSTGRES_URL", "")

# 2026-11-18 06:13:20 UTC: a fixed "now" for created_at and the seeded history.
NOW = 1_795_500_800.0

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[StoreFactory]:
    """A factory of fresh, empty stores (schema created) on one backend."""
    engines: list[Engine] = []
    schemas: list[str] = []
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("CALLCENTER_TEST_POSTGRES_URL is not set")
    admin = make_engine(POSTGRES_URL) if request.param == "postgres" else None

    def factory() -> Store:
        if admin is None:
            engine = make_engine(f"sqlite:///{tmp_path}/db{len(engines)}/crm.db")
        else:
            schema = "crm_test_" + secrets.token_hex(6)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            engine = make_engine(
                POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}
            )
        engines.append(engine)
        store = Store(engine, clock=lambda: NOW)
        store.create_schema()
        return store

    yield factory

    for engine in engines:
        engine.dispose()
    if admin is not None:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store()
