"""Alembic environment of the CRM store.

Run through ``crm_store.migrations``: the connection comes in
``config.attributes["connection"]``; without one, an engine is made for the
``sqlalchemy.url`` option.
"""

from __future__ import annotations

from alembic import context

from crm_store.models import Base, UTCDateTime
from crm_store.store import make_engine

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj, autogen_context):
    """Write UTCDateTime as its column type, so revisions do not import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate writes batch operations.
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_on(config.attributes["connection"])
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as connection:
            run_on(connection)
    finally:
        engine.dispose()
