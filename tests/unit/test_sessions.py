"""The rules of a user's session record: expired ones drop out, the newest are kept."""

from __future__ import annotations

from drop.domain.sessions import MAX_SESSIONS, Session, live, new_session_id, with_added, without

NOW = 1_700_000_000_000


def session(n: int, expires_in: int = 60_000) -> Session:
    return Session(f"s{n}", NOW + n, NOW + n + expires_in)


def test_adding_drops_expired_sessions_and_keeps_the_newest() -> None:
    expired = Session("old", NOW - 10, NOW - 1)
    kept = with_added([expired, session(1)], session(2), NOW)
    assert [s.session_id for s in kept] == ["s1", "s2"]
    full = [session(n) for n in range(MAX_SESSIONS)]
    after = with_added(full, session(MAX_SESSIONS), NOW)
    assert len(after) == MAX_SESSIONS
    assert after[0].session_id == "s1" and after[-1].session_id == f"s{MAX_SESSIONS}"


def test_live_sorts_oldest_first_and_without_removes_only_that_one() -> None:
    assert [s.session_id for s in live([session(3), session(1)], NOW)] == ["s1", "s3"]
    assert without([session(1), session(2)], "s1") == [session(2)]
    assert without([session(1)], "nope") == [session(1)]


def test_session_ids_are_long_and_distinct() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) >= 22 for i in ids)
