"""When the mail feed steps aside for a drop publishing people's statuses."""

from __future__ import annotations

from apps.worker.mail.feed import YIELD_BACKLOG, Backlog


def test_a_growing_backlog_past_the_threshold_makes_the_feed_wait() -> None:
    assert Backlog(left=YIELD_BACKLOG + 500, before=YIELD_BACKLOG).growing()


def test_a_small_backlog_never_makes_it_wait_even_when_it_grows() -> None:
    assert not Backlog(left=YIELD_BACKLOG - 1, before=0).growing()


def test_a_large_backlog_that_stopped_growing_is_read_at_once() -> None:
    backlog = Backlog(left=40_000, before=30_000)
    assert backlog.growing()
    backlog.now(40_000)
    assert not backlog.growing()
    backlog.now(39_744)
    assert not backlog.growing()


def test_each_look_compares_with_the_one_before() -> None:
    backlog = Backlog(left=YIELD_BACKLOG, before=0)
    backlog.now(YIELD_BACKLOG + 1)
    assert (backlog.before, backlog.left) == (YIELD_BACKLOG, YIELD_BACKLOG + 1)
    assert backlog.growing()
