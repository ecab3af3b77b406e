"""When a client leaves a slow server, and which server it takes instead."""

from __future__ import annotations

import pytest

from drop.adapters.failover import LeavePolicy, LinkJudge

POLICY = LeavePolicy(strikes=3, slow_s=2.0, settle_s=5.0, avoid_s=30.0)
SERVERS = ["a:1", "b:2", "c:3"]


def joined_at(t: float) -> LinkJudge:
    judge = LinkJudge(POLICY)
    judge.joined(t)
    return judge


def test_three_timeouts_in_a_row_leave_the_link() -> None:
    judge = joined_at(0.0)
    assert not judge.observe(10.0, 15.0, timed_out=True)
    assert not judge.observe(10.0, 15.0, timed_out=True)
    assert judge.observe(10.0, 15.0, timed_out=True)


def test_slow_answers_count_like_timeouts() -> None:
    judge = joined_at(0.0)
    outcomes = [judge.observe(10.0, 12.5) for _ in range(3)]
    assert outcomes == [False, False, True]


def test_a_quick_answer_clears_the_strikes() -> None:
    judge = joined_at(0.0)
    judge.observe(10.0, 15.0, timed_out=True)
    judge.observe(10.0, 15.0, timed_out=True)
    assert not judge.observe(20.0, 20.1)
    assert not judge.observe(21.0, 26.0, timed_out=True)
    assert not judge.observe(21.0, 26.0, timed_out=True)
    assert judge.observe(21.0, 26.0, timed_out=True)


def test_an_answer_just_under_the_bound_is_not_a_strike() -> None:
    judge = joined_at(0.0)
    assert not any(judge.observe(10.0, 12.0) for _ in range(10))
    assert judge.strikes == 0


def test_requests_sent_before_the_link_was_made_are_ignored() -> None:
    judge = joined_at(100.0)
    assert not any(judge.observe(99.0, 106.0, timed_out=True) for _ in range(5))
    assert judge.strikes == 0


def test_a_new_link_is_not_left_before_it_settles() -> None:
    judge = joined_at(100.0)
    assert not any(judge.observe(100.5, 102.0, timed_out=True) for _ in range(5))
    assert judge.observe(100.5, 105.0, timed_out=True)  # settled: five strikes already


def test_leaving_avoids_the_server_and_starts_clean() -> None:
    judge = joined_at(0.0)
    for _ in range(3):
        judge.observe(10.0, 15.0, timed_out=True)
    judge.leave("b:2", 15.0)
    assert judge.strikes == 0
    assert judge.choose(SERVERS, "a:1", 16.0) == "c:3"
    # Requests still stuck on the link left say nothing about the next one.
    assert not judge.observe(14.0, 30.0, timed_out=True)


def test_choose_takes_the_next_server_after_the_current_one() -> None:
    judge = LinkJudge(POLICY)
    assert judge.choose(SERVERS, "a:1", 0.0) == "b:2"
    assert judge.choose(SERVERS, "c:3", 0.0) == "a:1"
    assert judge.choose(SERVERS, None, 0.0) == "a:1"
    assert judge.choose(SERVERS, "gone:9", 0.0) == "a:1"


def test_choose_skips_avoided_servers_until_their_time_is_up() -> None:
    judge = LinkJudge(POLICY)
    judge.leave("a:1", 0.0)
    assert judge.choose(SERVERS, "c:3", 10.0) == "b:2"
    assert judge.choose(SERVERS, "c:3", 30.0) == "a:1"


def test_choose_returns_to_the_least_recently_left_when_all_are_avoided() -> None:
    judge = LinkJudge(POLICY)
    judge.leave("b:2", 0.0)
    judge.leave("a:1", 5.0)
    judge.leave("c:3", 10.0)
    assert judge.choose(SERVERS, "c:3", 12.0) == "b:2"


def test_choose_needs_a_server() -> None:
    with pytest.raises(ValueError, match="no server"):
        LinkJudge(POLICY).choose([], None, 0.0)
