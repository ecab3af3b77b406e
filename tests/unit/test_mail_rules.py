"""Which mail a status calls for, its stable names, and the tokens in its links."""

from __future__ import annotations

import re
from datetime import timedelta

from drop.adapters.contact_store import address_tag
from drop.adapters.sent_mail import claim_key
from drop.domain import mail, tokens

SECRET = "unit-secret"


def test_each_status_calls_for_its_one_kind() -> None:
    assert mail.kind_of({"status": "registered"}) == "entry"
    assert mail.kind_of({"status": "winner", "promoted": False}) == "won"
    assert mail.kind_of({"status": "winner", "promoted": True}) == "promoted"
    assert mail.kind_of({"status": "expired"}) == "lapsed"
    assert mail.kind_of({"status": "loser"}) == "not_selected"
    for quiet in ("backup_winner", "purchased", "not_registered", None):
        assert mail.kind_of({"status": quiet}) is None
    assert mail.was_backup({"status": "loser", "backupPosition": 3})
    assert not mail.was_backup({"status": "loser", "backupPosition": None})
    assert mail.closing_kind(sold_out=True) == "sold_out"
    assert mail.closing_kind(sold_out=False) == "not_selected"


def test_names_are_stable_and_distinct_per_kind() -> None:
    one = mail.message_id("d1", "u1", "won", "Drops <drops@shop.example>")
    assert one == "<d1.u1.won@shop.example>"
    assert one == mail.message_id("d1", "u1", "won", "drops@shop.example")
    assert one != mail.message_id("d1", "u1", "promoted", "drops@shop.example")
    assert mail.mail_key("d1", "u1", "won") == "d1:u1:won"
    assert mail.link_nonce("d", "u", "won", 5) == mail.link_nonce("d", "u", "won", 5)
    assert mail.link_nonce("d", "u", "won", 5) != mail.link_nonce("d", "u", "promoted", 5)


def test_a_deadline_reads_in_plain_words() -> None:
    start = 1_700_000_000_000
    said = mail.plain_deadline(start + (2 * 3600 + 5 * 60) * 1000, start)
    assert said.endswith("UTC (in 2 hours 5 minutes from when this was sent)")
    assert "in 1 minute " in mail.plain_deadline(start + 61_000, start)
    assert "less than a minute" in mail.plain_deadline(start + 10_000, start)


def test_a_sign_in_link_is_bound_signed_and_expires() -> None:
    token = tokens.sign_link(SECRET, "d1", "u1", 2_000, "n1")
    claim, reason = tokens.verify_link(SECRET, token, 1_000)
    assert reason == "" and claim is not None
    assert (claim.drop_id, claim.user_id, claim.nonce) == ("d1", "u1", "n1")
    assert tokens.verify_link(SECRET, token, 2_000) == (None, "expired")
    assert tokens.verify_link("other", token, 1_000) == (None, "bad_signature")
    # Neither a session nor a purchase token passes as a link, nor the other way round.
    session = tokens.sign_session(SECRET, "u1", 1_000, "s1")
    assert tokens.verify_link(SECRET, session, 1_000)[0] is None
    assert tokens.verify_session(SECRET, token, 1_000, 10_000) is None
    purchase = tokens.sign_purchase_token(SECRET, "d1", "u1", 2_000, "n1")
    assert tokens.verify_link(SECRET, purchase, 1_000)[0] is None


def test_an_unsubscribe_token_names_the_user_and_the_address() -> None:
    tag = address_tag("Someone@Example.com")
    assert tag == address_tag("someone@example.com ")
    token = tokens.sign_unsubscribe(SECRET, "u1", tag)
    assert tokens.verify_unsubscribe(SECRET, token) == ("u1", tag)
    assert tokens.verify_unsubscribe("other", token) is None
    assert tokens.verify_unsubscribe(SECRET, token + "x") is None
    link = tokens.sign_link(SECRET, "d1", "u1", 2_000, "n1")
    assert tokens.verify_unsubscribe(SECRET, link) is None


def test_retries_double_to_ten_minutes_for_about_a_day() -> None:
    gaps = [mail.retry_delay(n) for n in range(1, mail.retry_rounds() + 1)]
    assert [g.total_seconds() for g in gaps[:4]] == [1, 2, 4, 8]
    assert max(gaps) == gaps[-1] == timedelta(minutes=10)
    assert timedelta(days=1) <= sum(gaps, timedelta(0)) < timedelta(days=1, minutes=10)
    assert mail.retry_delay(10_000) == timedelta(minutes=10)


def test_a_claim_key_is_a_valid_key_value_key() -> None:
    key = claim_key("drop_1-a", "user-9_Z", "not_selected")
    assert key == "drop_1-a.user-9_Z.not_selected"
    assert re.fullmatch(r"[-/_=.a-zA-Z0-9]+", key)
