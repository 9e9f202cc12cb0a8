"""The user state on PostgreSQL does what the SQLite one does: every `UserState` method,
run against both through one backend fixture, and `page_view` equal to the separate
getters. (To be folded into the shared UserState contract suite.)

A backend joins by adding one entry to BACKENDS: a function that, given the test's
request (for `tmp_path`, or a server fixture), returns the URL of an empty user state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import psycopg
import pytest

from feed.core.types import ChannelTaste, SteeringRecord, UserView
from feed.storage.interfaces import UserState
from feed.storage.postgres import MIGRATIONS, PostgresUserState
from feed.storage.sqlite import DatabaseError
from feed.storage.stores import open_store

NOW = 1_800_000_000.0
Opener = Callable[[], UserState]


def _sqlite(request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{request.getfixturevalue('tmp_path') / 'state.sqlite'}"


def _postgresql(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("postgres_url"))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(BACKENDS))
def open_state(request) -> Iterator[Opener]:
    """Opens the backend's store; each call opens the same state again, as after a restart."""
    url = BACKENDS[request.param](request)
    opened: list[UserState] = []

    def open_one() -> UserState:
        opened.append(open_store("users", url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def state(open_state) -> UserState:
    """A fresh, empty user state of each backend."""
    return open_state()


def steering(sid: str, user_id: str | None, **kw) -> SteeringRecord:
    fields = {"op": "more", "phrase": "cats", "weight": 1.0, "scope": "persistent",
              "session_id": None, "text": f"text of {sid}", "created_at": NOW,
              "expires_at": None, "retracted_at": None}  # fmt: skip
    return SteeringRecord(sid, user_id, **{**fields, **kw})


def taste(seed: int, dim: int = 4) -> ChannelTaste:
    rng = np.random.default_rng(seed)
    return ChannelTaste(rng.standard_normal(dim).astype(np.float32), 2.5, None, 0.0, NOW + seed)


def assert_same_taste(a: ChannelTaste, b: ChannelTaste) -> None:
    for x, y in ((a.taste, b.taste), (a.negative, b.negative)):
        assert (x is None and y is None) or (x.dtype == np.float32 and np.array_equal(x, y))
    assert (a.taste_weight, a.negative_weight, a.updated_at) == (
        b.taste_weight, b.negative_weight, b.updated_at)  # fmt: skip


# -- accounts ---------------------------------------------------------------------------


def test_accounts_sign_in_by_token_and_handles_are_unique(state):
    ann, token = state.create_user("ann", NOW)
    assert ann.handle == "ann" and ann.id.startswith("u_") and not ann.reserved
    assert state.authenticate(token) == ann and state.authenticate(token + "x") is None
    assert state.get_user(ann.id) == ann and state.get_user("u_nobody") is None
    assert state.user_by_handle("ann") == ann and state.user_by_handle("bo") is None
    with pytest.raises(ValueError, match="taken"):
        state.create_user("ann", NOW + 1)
    fixed, _ = state.create_user("bo", NOW, user_id="u_fixed")
    assert fixed.id == "u_fixed" and state.get_user("u_fixed") == fixed


def test_reserved_handles_hold_an_account_nobody_can_sign_up_or_in_as(state):
    state.create_user("ann", NOW)
    assert state.reserve_handles(["ann", "cy", "dee", "cy"], NOW) == 2  # ann is a person
    assert state.reserve_handles(["cy", "eve"], NOW) == 1 and state.reserve_handles([], NOW) == 0
    cy = state.user_by_handle("cy")
    assert cy is not None and cy.reserved and not state.user_by_handle("ann").reserved
    with pytest.raises(ValueError, match="taken"):
        state.create_user("cy", NOW)
    assert state.authenticate("reserved:") is None and state.authenticate("") is None


def test_handles_look_up_in_bulk_and_by_prefix_in_byte_order(state):
    handles = ["anna", "ann_d", "ann.c", "ann", "ann-b", "bo"]
    users = {h: state.create_user(h, NOW)[0] for h in handles}
    found = state.users_by_handles(["ann", "bo", "nobody", "ann"])
    assert found == {"ann": users["ann"], "bo": users["bo"]}
    assert state.users_by_handles([]) == {}
    assert state.handles_of([users["ann"].id, users["bo"].id, "u_none"]) == {
        users["ann"].id: "ann", users["bo"].id: "bo"}  # fmt: skip
    assert state.handles_of([]) == {}
    assert state.handles_starting("ann", 10) == ["ann", "ann-b", "ann.c", "ann_d", "anna"]
    assert state.handles_starting("ann", 2) == ["ann", "ann-b"]
    assert state.handles_starting("", 100) == sorted(handles)
    assert state.handles_starting("c", 10) == []


def test_a_secret_is_made_once_and_kept(open_state):
    state = open_state()
    first = state.secret("media")
    assert len(first) == 64 and state.secret("media") == first
    assert state.secret("other") != first
    assert open_state().secret("media") == first


# -- relations, events and tastes --------------------------------------------------------


def test_follows_and_mutual_follows(state):
    ann, _ = state.create_user("ann", NOW)
    bo, _ = state.create_user("bo", NOW)
    state.follow(ann.id, "bo", NOW)
    state.follow(ann.id, "bo", NOW + 1)  # again: no change
    state.follow(ann.id, "cy", NOW)
    assert state.follows(ann.id) == {"bo", "cy"} and state.follows(bo.id) == set()
    assert not state.follows_between(ann.id, "ann", bo.id, "bo")
    state.follow(bo.id, "ann", NOW)
    assert state.follows_between(ann.id, "ann", bo.id, "bo")
    assert state.follows_between(bo.id, "bo", ann.id, "ann")
    state.unfollow(ann.id, "bo")
    state.unfollow(ann.id, "nobody")
    assert state.follows(ann.id) == {"cy"}
    assert not state.follows_between(ann.id, "ann", bo.id, "bo")


def test_events_update_history_counts_and_tastes_together(state):
    ann, _ = state.create_user("ann", NOW)
    rows = [("c1", "view", NOW), ("c2", "skip", NOW + 1), ("c3", "hide", NOW + 2),
            ("c4", "like", NOW + 3), ("c5", "share", NOW + 4), ("c1", "view", NOW + 5),
            ("c1", "like", NOW + 6), ("c6", "remix", NOW + 7),
            ("c9", "follow", NOW + 8)]  # fmt: skip
    state.record_events(ann.id, rows, {"text": taste(1), "visual": taste(2, dim=8)}, ["cy"])
    assert state.watched(ann.id) == {"c1", "c2"} and state.hidden(ann.id) == {"c3"}
    assert state.liked(ann.id) == ["c6", "c1", "c5", "c4"]
    assert state.liked(ann.id, limit=2) == ["c6", "c1"]
    assert state.follows(ann.id) == {"cy"}
    assert state.clip_stats() == {"c1": (2, 1, 0, 0, 0, 0), "c2": (0, 0, 1, 0, 0, 0),
                                  "c3": (0, 0, 0, 1, 0, 0), "c4": (0, 1, 0, 0, 0, 0),
                                  "c5": (0, 0, 0, 0, 1, 0), "c6": (0, 0, 0, 0, 0, 1)}  # fmt: skip
    got = state.tastes(ann.id)
    assert sorted(got) == ["text", "visual"]
    assert_same_taste(got["text"], taste(1))
    assert_same_taste(got["visual"], taste(2, dim=8))
    # a later batch: an earlier view keeps the later time, a like moves, tastes are replaced
    negative = ChannelTaste(None, 0.0, np.ones(4, np.float32), 1.5, NOW + 20)
    state.record_events(ann.id, [("c4", "like", NOW + 9), ("c3", "hide", NOW + 9)],
                        {"text": negative}, [])  # fmt: skip
    assert state.liked(ann.id)[0] == "c4" and state.hidden(ann.id) == {"c3"}
    assert_same_taste(state.tastes(ann.id)["text"], negative)
    assert state.clip_stats()["c4"] == (0, 2, 0, 0, 0, 0)
    assert state.clip_stats()["c3"] == (0, 0, 0, 2, 0, 0)
    assert state.tastes("u_nobody") == {} and state.liked("u_nobody") == []


# -- sessions ---------------------------------------------------------------------------


def test_pages_open_a_session_and_remember_what_they_served(state):
    ann, _ = state.create_user("ann", NOW)
    assert state.latest_session(ann.id) is None and state.session_owner("s1") is None
    state.record_page("s1", ann.id, 0, ["c1", "c2", "c2"], NOW)
    state.record_page("s1", ann.id, 1, ["c3"], NOW + 10)
    state.record_page("s2", ann.id, 0, [], NOW + 20)
    state.record_page("s1", "u_other", 2, ["c4"], NOW + 30)  # the session keeps its owner
    assert state.served("s1") == {"c1", "c2", "c3", "c4"} and state.served("s2") == set()
    assert state.session_owner("s1") == ann.id and state.latest_session(ann.id) == "s2"
    state.record_page("s3", ann.id, 0, ["c1"], NOW + 20)  # same time: the later one wins
    assert state.latest_session(ann.id) == "s3"
    started = state.start_session(ann.id, NOW + 40)
    assert state.session_owner(started) == ann.id and state.latest_session(ann.id) == started


# -- made for users, and cameos ------------------------------------------------------------


def test_clips_made_for_users(state):
    state.add_made_for([("u1", "c1", "cats", "j1"), ("u1", "c2", "dogs", "j2"),
                        ("u2", "c3", "owls", "j3")], NOW)  # fmt: skip
    state.add_made_for([("u1", "c3", "owls", "j4"), ("u1", "c1", "other", "j5")], NOW + 5)
    state.add_made_for([], NOW + 6)
    assert state.made_for("u1") == {"c1": "cats", "c2": "dogs", "c3": "owls"}
    rows = state.made_for_rows("u1", 10)
    assert rows[0] == ("c3", "owls", NOW + 5) and sorted(rows[1:]) == [
        ("c1", "cats", NOW), ("c2", "dogs", NOW)]  # fmt: skip
    assert len(state.made_for_rows("u1", 1)) == 1 and state.made_for("u3") == {}


def test_cameo_policies_are_replaced_whole(state):
    assert state.cameo("ann") is None and state.all_cameos() == []
    state.set_cameo("ann", "u_ann", "approved", ["u_b", "u_a", "u_b"], ["u_z"], NOW)
    assert state.cameo("ann") == ("u_ann", "approved", ("u_a", "u_b"), ("u_z",))
    state.set_cameo("ann", "u_ann", "mutuals", [], [], NOW + 1)
    state.set_cameo("bo", "u_bo", "everyone", [], ["u_x"], NOW)
    assert state.cameo("ann") == ("u_ann", "mutuals", (), ())
    assert sorted(state.all_cameos()) == [("ann", "u_ann", "mutuals", (), ()),
                                          ("bo", "u_bo", "everyone", (), ("u_x",))]  # fmt: skip


# -- steering ---------------------------------------------------------------------------


def test_steering_is_kept_in_order_and_retracted(state):
    ops = [steering("g1", None), steering("a1", "u_a", scope="session", session_id="s1"),
           steering("b1", "u_b", expires_at=NOW + 10), steering("a2", "u_a", weight=-0.5,
           op="less", phrase="rain", expires_at=NOW + 100)]  # fmt: skip
    state.add_steering(ops)
    state.add_steering([])
    assert state.get_steering("a1") == ops[1] and state.get_steering("zz") is None
    assert state.steering_for("u_a") == [ops[0], ops[1], ops[3]]
    assert state.steering_for("u_a", include_global=False) == [ops[1], ops[3]]
    assert state.steering_for(None) == [ops[0]]
    assert state.live_user_steering(NOW + 50) == [ops[1], ops[3]]  # b1 expired
    assert state.retract_steering(["a1", "a1", "zz"], NOW + 1) == 1
    assert state.retract_steering(["a1"], NOW + 2) == 0 and state.retract_steering([], NOW) == 0
    assert state.get_steering("a1").retracted_at == NOW + 1
    assert state.live_user_steering(NOW) == [ops[2], ops[3]]
    assert state.steering_for("u_a")[1].retracted_at == NOW + 1  # retracted ones included


# -- one page's read and write ----------------------------------------------------------


def page_view_from_getters(state: UserState, user_id: str, session_id: str) -> UserView:
    """What page_view must equal: the same facts, read one getter at a time."""
    me = state.get_user(user_id)
    mutual = {
        owner for _, owner, policy, _, _ in state.all_cameos()
        if policy == "mutuals" and me is not None and me.handle in state.follows(owner)
    }  # fmt: skip
    return UserView(
        user_id=user_id, session_owner=state.session_owner(session_id),
        tastes=state.tastes(user_id), follows=frozenset(state.follows(user_id)),
        hidden=frozenset(state.hidden(user_id)), watched=frozenset(state.watched(user_id)),
        served=frozenset(state.served(session_id)), liked=tuple(state.liked(user_id, 50)),
        steering=tuple(state.steering_for(user_id)), made_for=state.made_for(user_id),
        mutual_followers=frozenset(mutual),
    )  # fmt: skip


def assert_same_view(a: UserView, b: UserView) -> None:
    assert sorted(a.tastes) == sorted(b.tastes)
    for channel in a.tastes:
        assert_same_taste(a.tastes[channel], b.tastes[channel])
    assert (a.user_id, a.session_owner, a.follows, a.hidden, a.watched, a.served) == (
        b.user_id, b.session_owner, b.follows, b.hidden, b.watched, b.served)  # fmt: skip
    assert (a.liked, a.steering, a.made_for, a.mutual_followers) == (
        b.liked, b.steering, b.made_for, b.mutual_followers)  # fmt: skip


def test_page_view_reads_what_the_getters_read(open_state):
    state = open_state()
    ann, _ = state.create_user("ann", NOW)
    for handle in ("bo", "cy", "dee"):
        state.create_user(handle, NOW)
    bo, cy, dee = (state.user_by_handle(h) for h in ("bo", "cy", "dee"))
    # bo and cy follow ann; bo's cameo is for mutuals, cy's for everyone, dee's for mutuals
    # but dee does not follow ann
    state.follow(bo.id, "ann", NOW)
    state.follow(cy.id, "ann", NOW)
    state.follow(ann.id, "bo", NOW)
    state.set_cameo("bo", bo.id, "mutuals", [], [], NOW)
    state.set_cameo("cy", cy.id, "everyone", [], [], NOW)
    state.set_cameo("dee", dee.id, "mutuals", [], [], NOW)
    events = [(f"c{i}", "like", NOW + i) for i in range(60)] + [
        ("w1", "view", NOW), ("w2", "skip", NOW), ("h1", "hide", NOW)]  # fmt: skip
    state.record_events(ann.id, events, {"text": taste(1), "visual": taste(2, dim=8)}, [])
    state.record_events(bo.id, [("b1", "view", NOW)], {"text": taste(3)}, [])
    state.record_page("s1", ann.id, 0, ["c1", "c2"], NOW)
    state.record_page("s1", ann.id, 1, ["c3"], NOW + 1)
    state.add_made_for([(ann.id, "g1", "owls", "j1"), (bo.id, "g2", "cats", "j2")], NOW)
    state.add_steering([steering("g", None), steering("a", ann.id, scope="session",
                        session_id="s1"), steering("b", bo.id)])  # fmt: skip
    state.retract_steering(["g"], NOW + 5)
    view = state.page_view(ann.id, "s1")
    assert len(view.liked) == 50 and view.liked[0] == "c59"
    assert view.mutual_followers == {bo.id} and view.session_owner == ann.id
    assert [r.id for r in view.steering] == ["g", "a"] and view.made_for == {"g1": "owls"}
    assert_same_view(view, page_view_from_getters(state, ann.id, "s1"))
    # another session, another user, nobody: the same agreement
    for user_id, session_id in ((ann.id, "s-new"), (bo.id, "s1"), ("u_nobody", "s-none")):
        assert_same_view(state.page_view(user_id, session_id),
                         page_view_from_getters(state, user_id, session_id))  # fmt: skip
    assert_same_view(open_state().page_view(ann.id, "s1"), view)  # after a restart too


# -- PostgreSQL specifics ----------------------------------------------------------------


def test_postgres_page_is_one_query_and_one_transaction(postgres_url):
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


def test_postgres_records_its_schema_and_refuses_a_newer_one(postgres_url):
    PostgresUserState(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT kind, app, version FROM schema_version").fetchall() == [
            ("user state", "steerfeed", max(MIGRATIONS) + 1)]  # fmt: skip
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(DatabaseError, match="newer"):
        PostgresUserState(postgres_url)


def test_postgres_reports_an_unreachable_server_in_one_line(postgres_server):
    url = postgres_server.url("missing_db")
    with pytest.raises(DatabaseError, match="not a usable steerfeed user state"):
        PostgresUserState(url)


def test_postgres_reconnects_after_its_connection_is_cut(postgres_url):
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
