"""Migration 0014 (Message Batches records dated, the audit indexed by time) on stores that already have rows.

Runs on SQLite and PostgreSQL: a store is brought to 0013, filled, then migrated as ``invoiceai
serve`` migrates it at startup (:func:`invoiceai.server.db.migrate`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select, text, update

from invoiceai.server.clock import utcnow
from invoiceai.server.db import MIGRATIONS, migrate, open_engine
from invoiceai.server.message_batches_store import (
    DatabaseBatchStore,
    add_message_batch,
    batch_records,
    message_batches,
)
from invoiceai.server.models import audit
from invoiceai.server.retention import Purged, purge
from server_helpers import settings_for


def alembic(engine: Any, command_name: str, revision: str) -> None:
    """``alembic upgrade|downgrade REVISION`` on ``engine``, configured as :func:`migrate` configures it."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, command_name)(config, revision)


def version(engine: Any) -> str:
    with engine.begin() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def later(days: float) -> datetime:
    return utcnow() + timedelta(days=days)


def test_a_store_at_0013_with_rows_is_upgraded_and_its_old_records_dated(database_url: str, tmp_path: Path) -> None:
    engine = open_engine(database_url)
    try:
        alembic(engine, "upgrade", "0013")
        with engine.begin() as connection:  # written by the previous version: no created_at column yet
            add_message_batch(connection, "b-live")
            connection.execute(update(message_batches).values(job_id="iaib_live", state="running"))
            connection.execute(
                batch_records.insert(),
                [
                    {"job": job, "kind": kind, "key": "0", "value": "{}"}
                    for job in ("iaib_live", "iaib_orphan")
                    for kind in ("meta", "doc")
                    if (job, kind) != ("iaib_orphan", "meta")
                ],
            )
            connection.execute(audit.insert().values(at=utcnow(), key_id="key_1", action="create", outcome="ok"))
        migrate(engine)
        assert version(engine) == "0014"
        with engine.begin() as connection:
            dated = connection.execute(select(batch_records.c.job, batch_records.c.created_at)).all()
        assert sorted(job for job, _ in dated) == ["iaib_live", "iaib_live", "iaib_orphan"]
        assert all(isinstance(created, datetime) for _, created in dated)  # the migration's time
        indexes = {
            index["name"]: index["column_names"] for index in inspect(engine).get_indexes("message_batch_records")
        }
        assert indexes["ix_message_batch_records_job_created"] == ["job", "created_at"]
        assert {index["name"] for index in inspect(engine).get_indexes("audit")} >= {"ix_audit_at", "ix_audit_job"}

        settings = settings_for(tmp_path, database_url=database_url, audit_retention_days=1)
        assert purge(engine, settings) == Purged()  # dated now: a submission in progress, for all the sweep knows
        assert purge(engine, settings, now=later(2)) == Purged(audit=1, batch_records=1)
        assert DatabaseBatchStore(engine).jobs() == ["iaib_live"]  # its batch is still driven
        DatabaseBatchStore(engine).put("iaib_new", {("doc", "0"): "{}"})  # the new version dates what it writes
        assert DatabaseBatchStore(engine).read("iaib_new", "doc") == {"0": "{}"}

        alembic(engine, "downgrade", "0013")  # and back, with the rows
        assert "created_at" not in {column["name"] for column in inspect(engine).get_columns("message_batch_records")}
        migrate(engine)
        assert version(engine) == "0014"
        assert DatabaseBatchStore(engine).read("iaib_new", "doc") == {"0": "{}"}
    finally:
        engine.dispose()


def test_a_fresh_store_has_every_column_and_index_the_code_names(database_url: str) -> None:
    import invoiceai.server.retention  # noqa: F401  (declares the indexes the purge relies on)
    from invoiceai.server import message_batches_store, models

    engine = open_engine(database_url)
    try:
        migrate(engine)
        inspector = inspect(engine)
        for metadata in (models.metadata, message_batches_store.metadata):
            for table in metadata.sorted_tables:
                columns = {column["name"] for column in inspector.get_columns(table.name)}
                assert {column.name for column in table.columns} <= columns, table.name
                indexes = {index["name"] for index in inspector.get_indexes(table.name)}
                assert {index.name for index in table.indexes} <= indexes, table.name
    finally:
        engine.dispose()


def table_storage(connection: Any) -> object:
    """Where ``message_batch_records`` is stored: changes when the table is copied (rebuilt)."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT pg_relation_filenode('message_batch_records')")).scalar_one()
    query = text("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'message_batch_records'")
    return connection.execute(query).scalar_one()


def test_0014_dates_the_records_in_place_without_copying_their_table(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        alembic(engine, "upgrade", "0013")
        with engine.begin() as connection:  # documents' bytes: a copy would rewrite them all under the write lock
            rows = [{"job": "iaib_old", "kind": "doc", "key": str(key), "value": "x" * 20_000} for key in range(20)]
            connection.execute(batch_records.insert(), rows)
            stored = table_storage(connection)
        before = utcnow()
        migrate(engine)
        after = utcnow()
        with engine.begin() as connection:
            assert table_storage(connection) == stored
            (dated,) = set(connection.execute(select(batch_records.c.created_at)).scalars())
        # The migration's time (on PostgreSQL the database's clock, hence the margin).
        assert before - timedelta(minutes=1) <= dated <= after + timedelta(minutes=1)
        alembic(engine, "downgrade", "0013")
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM message_batch_records")).scalar_one() == 20
    finally:
        engine.dispose()
