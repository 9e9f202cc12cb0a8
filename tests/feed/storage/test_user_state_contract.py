"""The user state contract: every UserState backend runs this suite.

A backend joins by adding one entry to BACKENDS: a function that, given the test's
request (for `tmp_path`, or a server fixture), returns the URL of an empty user state.
Migrations of the SQLite file stay in tests/feed/test_catalog.py; what only PostgreSQL
promises is in test_postgres_user_state.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from feed.core.types import ChannelTaste, SteeringRecord, UserView
from feed.storage.interfaces import UserState
from feed.storage.stores import open_store

NOW = 1_000_000.0
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
def open_users(request) -> Iterator[Opener]:
    """Opens the backend's user state; each call opens the same state again."""
    url = BACKENDS[request.param](request)
    opened: list[UserState] = []

    def open_one() -> UserState:
        opened.append(open_store("users", url))
        return opened[-1]

    yield open_one
    for users in opened:
        users.close()


@pytest.fixture
def users(open_users) -> UserState:
    """A fresh, empty user state of each backend."""
    return open_users()


def steer(steering_id: str, user_id: str | None, phrase: str, created_at: float, *,
          op: str = "boost", weight: float = 1.5, scope: str = "persistent",
          session_id: str | None = None, expires_at: float | None = None
          ) -> SteeringRecord:  # fmt: skip
    return SteeringRecord(steering_id, user_id, op, phrase, weight, scope, session_id,
                          f"more {phrase}", created_at, expires_at, None)  # fmt: skip


def view_from_getters(users: UserState, user_id: str, session_id: str) -> UserView:
    """What `page_view` must return, read through the separate getters."""
    handle = users.handles_of([user_id]).get(user_id)
    mutual = {owner for _, owner, policy, _, _ in users.all_cameos()
              if policy == "mutuals" and handle in users.follows(owner)}  # fmt: skip
    return UserView(
        user_id=user_id, session_owner=users.session_owner(session_id),
        tastes=users.tastes(user_id), follows=frozenset(users.follows(user_id)),
        hidden=frozenset(users.hidden(user_id)), watched=frozenset(users.watched(user_id)),
        served=frozenset(users.served(session_id)), liked=tuple(users.liked(user_id)),
        steering=tuple(users.steering_for(user_id)), made_for=users.made_for(user_id),
        mutual_followers=frozenset(mutual), consent_version=users.consent_version(),
    )  # fmt: skip


def assert_same_tastes(got: dict[str, ChannelTaste], want: dict[str, ChannelTaste]) -> None:
    assert got.keys() == want.keys()
    for channel, taste in want.items():
        other = got[channel]
        for ours, theirs in ((other.taste, taste.taste), (other.negative, taste.negative)):
            assert (ours is None) == (theirs is None), channel
            if theirs is not None:
                assert ours is not None and ours.dtype == np.float32
                np.testing.assert_array_equal(ours, theirs)
        assert (other.taste_weight, other.negative_weight, other.updated_at) == (
            taste.taste_weight, taste.negative_weight, taste.updated_at)  # fmt: skip


def assert_same_view(got: UserView, want: UserView) -> None:
    assert_same_tastes(got.tastes, want.tastes)
    for name in ("user_id", "session_owner", "follows", "hidden", "watched", "served", "liked",
                 "steering", "made_for", "mutual_followers", "consent_version"):  # fmt: skip
        assert getattr(got, name) == getattr(want, name), name


# -- accounts ------------------------------------------------------------------------------


def test_an_account_signs_in_with_its_token_only(users):
    ann, token = users.create_user("ann", NOW)
    assert ann.handle == "ann" and ann.created_at == NOW and not ann.reserved
    assert ann.id.startswith("u_")
    assert isinstance(token, str) and len(token) >= 32
    assert users.authenticate(token) == ann
    assert users.authenticate(token + "x") is None and users.authenticate("") is None
    assert users.get_user(ann.id) == ann and users.user_by_handle("ann") == ann
    assert users.get_user("u_nobody") is None and users.user_by_handle("nobody") is None
    bo, bo_token = users.create_user("bo", NOW + 1)
    assert bo.id != ann.id and bo_token != token and users.authenticate(bo_token) == bo


def test_a_taken_handle_is_refused(users):
    ann, _ = users.create_user("ann", NOW)
    with pytest.raises(ValueError, match="taken"):
        users.create_user("ann", NOW + 1)
    assert users.user_by_handle("ann") == ann


def test_a_fixed_user_id_is_kept(users):
    fixed, token = users.create_user("ann", NOW, user_id="u_replayed")
    assert fixed.id == "u_replayed"
    assert users.get_user("u_replayed") == fixed and users.authenticate(token) == fixed


def test_reserved_handles_hold_their_name_and_cannot_sign_in(users):
    users.create_user("ann", NOW)
    assert users.reserve_handles(["cy", "dee", "ann", "cy"], NOW) == 2  # ann is held already
    assert users.reserve_handles([], NOW) == 0
    assert users.reserve_handles(["cy"], NOW + 1) == 0
    assert users.reserve_handles(["cy", "eve"], NOW + 1) == 1  # only eve is new
    cy = users.user_by_handle("cy")
    assert cy is not None and cy.reserved and cy.handle == "cy"
    assert not users.user_by_handle("ann").reserved
    with pytest.raises(ValueError, match="taken"):
        users.create_user("cy", NOW + 2)
    # no token was handed out for a reservation, and none that a client could send works
    for token in ("", "cy", cy.id, "reserved:", "null"):
        assert users.authenticate(token) is None


def test_handles_by_id_and_accounts_by_handle(users):
    ann, _ = users.create_user("ann", NOW)
    bo, _ = users.create_user("bo", NOW)
    users.reserve_handles(["cy"], NOW)
    assert users.handles_of([ann.id, bo.id, ann.id, "u_nobody"]) == {ann.id: "ann", bo.id: "bo"}
    assert users.handles_of([]) == {}
    found = users.users_by_handles(["ann", "cy", "zed", "ann"])
    assert found.keys() == {"ann", "cy"} and found["ann"] == ann and found["cy"].reserved
    assert users.users_by_handles([]) == {}


def test_handles_starting_with_a_prefix_come_in_byte_order(users):
    for handle in ("bo", "annie", "ann_d", "ann", "dee", "ann.c", "anna", "ann-b"):
        users.create_user(handle, NOW)
    users.reserve_handles(["cy"], NOW)
    # byte order whatever the database's collation: "-", "." and "_" come before letters
    in_order = ["ann", "ann-b", "ann.c", "ann_d", "anna", "annie"]
    assert users.handles_starting("ann", 10) == in_order
    assert users.handles_starting("ann", 2) == ["ann", "ann-b"]
    assert users.handles_starting("ann_", 10) == ["ann_d"]  # "_" is no wildcard
    assert users.handles_starting("", 10) == [*in_order, "bo", "cy", "dee"]
    assert users.handles_starting("", 2) == ["ann", "ann-b"]
    assert users.handles_starting("z", 10) == []


# -- relations and history -----------------------------------------------------------------


def test_follows_and_whether_two_users_follow_each_other(users):
    ann, _ = users.create_user("ann", NOW)
    bo, _ = users.create_user("bo", NOW)
    users.follow(ann.id, "bo", NOW)
    users.follow(ann.id, "bo", NOW + 1)  # following twice is following once
    users.follow(ann.id, "cy", NOW)
    assert users.follows(ann.id) == {"bo", "cy"} and users.follows(bo.id) == set()
    assert not users.follows_between(ann.id, "ann", bo.id, "bo")
    users.follow(bo.id, "ann", NOW)
    assert users.follows_between(ann.id, "ann", bo.id, "bo")
    assert users.follows_between(bo.id, "bo", ann.id, "ann")
    users.unfollow(ann.id, "bo")
    users.unfollow(ann.id, "never-followed")
    assert users.follows(ann.id) == {"cy"}
    assert not users.follows_between(ann.id, "ann", bo.id, "bo")


def test_recorded_events_become_history_tastes_and_counts(users, rng):
    taste = rng.standard_normal(4).astype(np.float32)
    negative = rng.standard_normal(8).astype(np.float32)
    tastes = {"text": ChannelTaste(taste, 2.0, None, 0.0, NOW + 7),
              "visual": ChannelTaste(None, 0.0, negative, 1.5, NOW + 7)}  # fmt: skip
    rows = [("c1", "view", NOW + 1), ("c2", "skip", NOW + 2), ("c3", "hide", NOW + 3),
            ("c4", "like", NOW + 4), ("c5", "share", NOW + 5), ("c6", "remix", NOW + 6),
            ("c4", "view", NOW + 7), ("c1", "view", NOW + 8),
            ("c7", "follow", NOW + 8)]  # fmt: skip
    users.record_events("u1", rows, tastes, follows=["maker"])  # a follow counts for no clip
    assert users.watched("u1") == {"c1", "c2", "c4"}  # views and skips
    assert users.hidden("u1") == {"c3"}
    assert users.liked("u1") == ["c6", "c5", "c4"]  # likes, shares and remixes, newest first
    assert users.liked("u1", limit=2) == ["c6", "c5"]
    assert users.follows("u1") == {"maker"}
    assert_same_tastes(users.tastes("u1"), tastes)
    assert users.clip_stats() == {
        "c1": (2, 0, 0, 0, 0, 0), "c2": (0, 0, 1, 0, 0, 0), "c3": (0, 0, 0, 1, 0, 0),
        "c4": (1, 1, 0, 0, 0, 0), "c5": (0, 0, 0, 0, 1, 0), "c6": (0, 0, 0, 0, 0, 1),
    }  # fmt: skip
    # another user's history is theirs alone; counts are everyone's
    users.record_events("u2", [("c1", "like", NOW + 9)], {}, follows=[])
    assert users.watched("u2") == set() and users.liked("u2") == ["c1"]
    assert users.clip_stats()["c1"] == (2, 1, 0, 0, 0, 0)
    assert users.tastes("u2") == {} and users.hidden("u2") == set()


def test_a_later_batch_moves_a_like_up_counts_again_and_replaces_tastes_per_channel(users, rng):
    first = {"text": ChannelTaste(rng.standard_normal(4).astype(np.float32), 1.0, None, 0.0, NOW),
             "visual": ChannelTaste(None, 0.0, None, 0.0, NOW)}  # fmt: skip
    users.record_events("u1", [("c1", "like", NOW), ("c2", "like", NOW + 1),
                               ("c3", "hide", NOW + 2)], first, [])  # fmt: skip
    # the text taste becomes a negative only: a channel's taste is replaced whole
    later = {"text": ChannelTaste(None, 0.0, rng.standard_normal(4).astype(np.float32), 1.5,
                                  NOW + 5)}  # fmt: skip
    users.record_events("u1", [("c1", "like", NOW + 5), ("c3", "hide", NOW + 5)], later, [])
    assert users.liked("u1") == ["c1", "c2"] and users.hidden("u1") == {"c3"}
    stats = users.clip_stats()
    assert stats["c1"] == (0, 2, 0, 0, 0, 0) and stats["c3"] == (0, 0, 0, 2, 0, 0)
    assert_same_tastes(users.tastes("u1"), {"text": later["text"], "visual": first["visual"]})


# -- feed sessions -------------------------------------------------------------------------


def test_the_first_page_opens_a_session_and_pages_add_what_they_served(users):
    assert users.session_owner("s1") is None and users.served("s1") == set()
    assert users.latest_session("u1") is None
    users.record_page("s1", "u1", 0, ["c1", "c2", "c2"], NOW)
    assert users.session_owner("s1") == "u1" and users.latest_session("u1") == "s1"
    users.record_page("s1", "u1", 1, ["c2", "c3"], NOW + 10)
    assert users.served("s1") == {"c1", "c2", "c3"}
    users.record_page("s2", "u1", 0, ["c9"], NOW + 20)
    assert users.latest_session("u1") == "s2"
    assert users.served("s1") == {"c1", "c2", "c3"} and users.served("s2") == {"c9"}
    assert users.latest_session("u2") is None
    users.record_page("s3", "u1", 0, [], NOW + 20)  # an empty page, at the same time
    assert users.latest_session("u1") == "s3" and users.served("s3") == set()


def test_a_session_belongs_to_whoever_opened_it(users):
    users.record_page("s1", "u1", 0, ["c1"], NOW)
    users.record_page("s1", "u2", 1, ["c2"], NOW + 1)
    assert users.session_owner("s1") == "u1" and users.served("s1") == {"c1", "c2"}
    assert users.latest_session("u2") is None


# -- steering ------------------------------------------------------------------------------


def test_steering_for_a_user_with_and_without_global_ops(users):
    records = [steer("g1", None, "calm", NOW), steer("a1", "ann", "cats", NOW + 1),
               steer("b1", "bo", "dogs", NOW + 2),
               steer("a2", "ann", "rain", NOW + 3, scope="session", session_id="s1",
                     expires_at=NOW + 60, op="suppress"),
               steer("g2", None, "news", NOW + 4, op="exclude")]  # fmt: skip
    users.add_steering(records[:3])
    users.add_steering(records[3:])
    by_id = {r.id: r for r in records}
    assert users.steering_for("ann") == [by_id[i] for i in ("g1", "a1", "a2", "g2")]
    assert users.steering_for("ann", include_global=False) == [by_id["a1"], by_id["a2"]]
    assert users.steering_for(None) == [by_id["g1"], by_id["g2"]]
    assert users.steering_for("nobody") == [by_id["g1"], by_id["g2"]]
    assert users.get_steering("a2") == by_id["a2"] and users.get_steering("zz") is None


def test_retracted_ops_stay_on_record_and_leave_the_live_set(users):
    users.add_steering([
        steer("g1", None, "calm", NOW), steer("a1", "ann", "cats", NOW + 1),
        steer("a2", "ann", "rain", NOW + 2, expires_at=NOW + 50),
        steer("b1", "bo", "dogs", NOW + 3, expires_at=NOW + 500),
        steer("b2", "bo", "snow", NOW + 4),
    ])  # fmt: skip
    assert [r.id for r in users.live_user_steering(NOW + 10)] == ["a1", "a2", "b1", "b2"]
    assert users.retract_steering(["a1", "b2", "zz"], NOW + 20) == 2
    assert users.retract_steering(["a1"], NOW + 30) == 0  # already retracted
    assert users.get_steering("a1").retracted_at == NOW + 20
    assert [r.id for r in users.steering_for("ann")] == ["g1", "a1", "a2"]
    # global ops are never a user's; expired ones are not live
    assert [r.id for r in users.live_user_steering(NOW + 10)] == ["a2", "b1"]
    assert [r.id for r in users.live_user_steering(NOW + 50)] == ["b1"]
    assert users.live_user_steering(NOW + 500) == []


def test_steering_made_in_one_instant_keeps_the_order_it_was_added_in(users):
    ops = [steer("g1", None, "calm", NOW),
           steer("a1", "ann", "cats", NOW, scope="session", session_id="s1"),
           steer("b1", "bo", "dogs", NOW, expires_at=NOW + 10),
           steer("a0", "ann", "rain", NOW, op="suppress", weight=-0.5,
                 expires_at=NOW + 100)]  # fmt: skip
    users.add_steering(ops)
    users.add_steering([])
    assert users.get_steering("a0") == ops[3]
    assert users.steering_for("ann") == [ops[0], ops[1], ops[3]]  # in the order added, not by id
    assert users.live_user_steering(NOW) == ops[1:]  # a session's ops are live too
    assert users.live_user_steering(NOW + 50) == [ops[1], ops[3]]
    assert users.retract_steering(["a1", "a1", "zz"], NOW + 1) == 1
    assert users.retract_steering([], NOW + 2) == 0
    assert users.live_user_steering(NOW + 50) == [ops[3]]


# -- made for users, and cameos ------------------------------------------------------------


def test_clips_made_for_a_user(users):
    users.add_made_for([("u1", "m1", "herons", "j1"), ("u1", "m2", "cats", "j2"),
                        ("u2", "m4", "owls", "j4")], NOW)  # fmt: skip
    users.add_made_for([("u1", "m3", "dogs", "j3"), ("u1", "m1", "again", "j9")], NOW + 5)
    users.add_made_for([], NOW + 6)
    assert users.made_for("u1") == {"m1": "herons", "m2": "cats", "m3": "dogs"}
    assert users.made_for("u2") == {"m4": "owls"} and users.made_for("u3") == {}
    rows = users.made_for_rows("u1", 10)
    assert rows[0] == ("m3", "dogs", NOW + 5)  # newest first
    assert sorted(rows[1:]) == [("m1", "herons", NOW), ("m2", "cats", NOW)]
    assert users.made_for_rows("u1", 1) == [("m3", "dogs", NOW + 5)]


def test_cameo_consent_is_kept_and_replaced(users):
    assert users.cameo("ann") is None and users.all_cameos() == []
    users.set_cameo("ann", "u_ann", "approved", ["u2", "u1", "u2"], ["u3"], NOW)
    users.set_cameo("bo", "u_bo", "mutuals", [], [], NOW)
    assert users.cameo("ann") == ("u_ann", "approved", ("u1", "u2"), ("u3",))
    users.set_cameo("ann", "u_ann", "only_me", [], ["u4"], NOW + 1)
    assert users.cameo("ann") == ("u_ann", "only_me", (), ("u4",))
    assert sorted(users.all_cameos()) == [("ann", "u_ann", "only_me", (), ("u4",)),
                                          ("bo", "u_bo", "mutuals", (), ())]  # fmt: skip


def test_every_consent_change_moves_the_consent_version_and_nothing_else_does(open_users):
    users = open_users()
    ann, _ = users.create_user("ann", NOW)
    start = users.consent_version()
    assert users.page_view(ann.id, "s1").consent_version == start
    users.follow(ann.id, "bo", NOW)
    users.record_page("s1", ann.id, 0, ["c1"], NOW)
    assert users.consent_version() == start
    users.set_cameo("ann", ann.id, "everyone", [], [], NOW)
    users.set_cameo("ann", ann.id, "only_me", [], [], NOW + 1)  # a revocation
    assert users.consent_version() == start + 2
    assert users.page_view(ann.id, "s1").consent_version == start + 2
    users.close()
    # kept across reopening, as another server sharing the store would read it
    assert open_users().consent_version() == start + 2


def test_a_secret_is_made_once_and_kept(open_users):
    users = open_users()
    signing = users.secret("signing")
    assert isinstance(signing, bytes) and len(signing) >= 32
    assert users.secret("signing") == signing and users.secret("other") != signing
    users.close()
    assert open_users().secret("signing") == signing


# -- one page's view -----------------------------------------------------------------------


def populate(users: UserState, rng: np.random.Generator) -> dict[str, str]:
    """Two sessions of `vee`, who follows and is followed, with steering and made-for clips.

    Of the "mutuals" cameo owners, only `ay` follows vee; `cee` follows vee but lets
    everyone use their cameo. vee has tastes of two widths; ay a channel with no vector.
    """
    ids = {h: users.create_user(h, NOW)[0].id for h in ("vee", "ay", "bee", "cee")}
    vee = ids["vee"]
    tastes = {"text": ChannelTaste(rng.standard_normal(4).astype(np.float32), 2.0,
                                   rng.standard_normal(4).astype(np.float32), 0.5, NOW + 9),
              "visual": ChannelTaste(rng.standard_normal(8).astype(np.float32), 1.0, None, 0.0,
                                     NOW + 9)}  # fmt: skip
    users.record_events(vee, [("c1", "view", NOW + 1), ("c2", "skip", NOW + 2),
                              ("c3", "hide", NOW + 3), ("c4", "like", NOW + 4),
                              ("c5", "share", NOW + 5), ("c4", "view", NOW + 6)],
                        tastes, follows=["ay"])  # fmt: skip
    users.follow(vee, "bee", NOW)
    for handle, policy in (("ay", "mutuals"), ("bee", "mutuals"), ("cee", "everyone")):
        users.set_cameo(handle, ids[handle], policy, [], [], NOW)
    empty = ChannelTaste(None, 0.0, None, 0.0, NOW + 14)
    users.record_events(ids["ay"], [("c12", "view", NOW + 14)], {"visual": empty}, follows=[])
    users.follow(ids["ay"], "vee", NOW)
    users.follow(ids["cee"], "vee", NOW)
    users.follow(ids["bee"], "ay", NOW)
    users.record_page("s1", vee, 0, ["c7", "c8"], NOW + 10)
    users.record_page("s1", vee, 1, ["c9"], NOW + 11)
    users.record_page("s2", vee, 0, ["c10"], NOW + 12)
    users.record_page("s_ay", ids["ay"], 0, ["c11"], NOW + 13)
    users.add_steering([steer("g1", None, "calm", NOW), steer("v1", vee, "cats", NOW + 1),
                        steer("a1", ids["ay"], "dogs", NOW + 2),
                        steer("v2", vee, "rain", NOW + 3, scope="session", session_id="s1"),
                        steer("g2", None, "news", NOW + 4, op="exclude")])  # fmt: skip
    users.retract_steering(["v2"], NOW + 5)
    users.add_made_for([(vee, "m1", "herons", "j1"), (ids["ay"], "m2", "owls", "j2")], NOW)
    return ids


def test_page_view_reads_what_the_separate_getters_read(users, rng):
    ids = populate(users, rng)
    vee = ids["vee"]
    view = users.page_view(vee, "s1")
    assert_same_view(view, view_from_getters(users, vee, "s1"))
    assert view.session_owner == vee and view.served == {"c7", "c8", "c9"}
    assert view.follows == {"ay", "bee"} and view.hidden == {"c3"}
    assert view.watched == {"c1", "c2", "c4"} and view.liked == ("c5", "c4")
    assert [r.id for r in view.steering] == ["g1", "v1", "v2", "g2"]  # oldest first
    assert view.steering[2].retracted_at == NOW + 5
    assert view.made_for == {"m1": "herons"} and view.tastes.keys() == {"text", "visual"}
    assert view.mutual_followers == {ids["ay"]}
    for user_id, session_id in ((vee, "s2"), (ids["ay"], "s_ay"), (ids["bee"], "s1"),
                                (ids["cee"], "s2")):  # fmt: skip
        assert_same_view(users.page_view(user_id, session_id),
                         view_from_getters(users, user_id, session_id))  # fmt: skip


def test_page_view_of_someone_elses_session_names_its_owner(users, rng):
    ids = populate(users, rng)
    view = users.page_view(ids["vee"], "s_ay")
    assert view.session_owner == ids["ay"] and view.served == {"c11"}
    assert_same_view(view, view_from_getters(users, ids["vee"], "s_ay"))


def test_page_view_of_a_user_with_nothing_and_an_unknown_session(users, rng):
    populate(users, rng)  # others' state must not leak in
    nobody, _ = users.create_user("nobody", NOW)
    for user_id in (nobody.id, "u_never_signed_up"):
        view = users.page_view(user_id, "s_unknown")
        assert_same_view(view, view_from_getters(users, user_id, "s_unknown"))
        assert view.session_owner is None and view.tastes == {} and view.served == frozenset()
        assert view.follows == view.hidden == view.watched == view.mutual_followers == frozenset()
        assert view.liked == () and view.made_for == {}
        assert [r.id for r in view.steering] == ["g1", "g2"]  # global steering reaches everyone


def test_page_view_holds_the_newest_likes_as_liked_does(users):
    rows = [(f"c{i:02d}", "like", NOW + i) for i in range(60)]
    users.record_events("u1", rows[::-1], {}, [])
    view = users.page_view("u1", "s1")
    assert view.liked == tuple(users.liked("u1"))
    assert view.liked[0] == "c59" and len(view.liked) == 50


def test_reopening_keeps_every_users_state(open_users, rng):
    users = open_users()
    ids = populate(users, rng)
    _, token = users.create_user("dee", NOW)
    users.reserve_handles(["zed"], NOW)
    before = {(u, s): users.page_view(u, s) for u in ids.values() for s in ("s1", "s2", "s_ay")}
    stats, cameos = users.clip_stats(), sorted(users.all_cameos())
    live = users.live_user_steering(NOW + 10)
    users.close()
    again = open_users()
    for (user_id, session_id), view in before.items():
        assert_same_view(again.page_view(user_id, session_id), view)
    assert again.authenticate(token) == again.user_by_handle("dee")
    assert again.user_by_handle("zed").reserved
    assert again.clip_stats() == stats and sorted(again.all_cameos()) == cameos
    assert again.live_user_steering(NOW + 10) == live
    assert again.latest_session(ids["vee"]) == "s2"
    with pytest.raises(ValueError):
        again.create_user("vee", NOW)
