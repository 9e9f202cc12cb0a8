"""What only the PostgreSQL user state promises: a page read in one query and written in one
transaction, its schema version, one clear error for a database it cannot use, and a new
connection after the old one is cut (the shared contract is in test_user_state_contract.py)."""

from __future__ import annotations

import psycopg
import pytest

from feed.storage.postgres import MIGRATIONS, PostgresUserState
from feed.storage.sqlite import DatabaseError

NOW = 1_800_000_000.0


def test_a_page_is_one_query_and_one_transaction(postgres_url):
    state = PostgresUserState(postgres_url)
    ann, _ = state.create_user("ann", NOW)
    calls: list[str] = []
    query, tx = state.db.query, state.db.tx
    state.db.query = lambda *a: calls.append("query") or query(*a)  # type: ignore[method-assign]
    state.db.tx = lambda: calls.append("tx") or tx()  # type: ignore[method-assign]
    state.page_view(ann.id, "s1")
    state.record_page("s1", ann.id, 0, ["c1", "c2"], NOW)
    assert calls == ["query", "tx"]
    state.close()


def test_the_schema_is_recorded_and_a_newer_one_refused(postgres_url):
    PostgresUserState(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT kind, app, version FROM schema_version").fetchall() == [
            ("user state", "steerfeed", max(MIGRATIONS) + 1)]  # fmt: skip
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(DatabaseError, match="newer"):
        PostgresUserState(postgres_url)


def test_an_unreachable_database_is_one_clear_error(postgres_server):
    url = postgres_server.url("missing_db")
    with pytest.raises(DatabaseError, match="not a usable steerfeed user state"):
        PostgresUserState(url)


def test_a_cut_connection_fails_the_request_in_flight_and_the_next_reconnects(postgres_url):
    state = PostgresUserState(postgres_url)
    ann, _ = state.create_user("ann", NOW)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(psycopg.OperationalError):
        state.get_user(ann.id)  # the request in flight fails
    assert state.get_user(ann.id) == ann  # the next one reconnects
    state.close()
