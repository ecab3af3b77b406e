"""Which mail a person's status calls for, and the names that make each one send once.

A person gets at most one message of each kind per drop: the kind is decided from the
status event alone (the same event read twice decides the same kind), and the message's
key and Message-ID are functions of (drop, user, kind).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Literal, get_args

MailKind = Literal["entry", "won", "promoted", "lapsed", "not_selected", "sold_out"]
MAIL_KINDS: tuple[MailKind, ...] = get_args(MailKind)

# Kinds whose message carries a sign-in link to buy with.
WITH_LINK: frozenset[MailKind] = frozenset({"won", "promoted"})


def kind_of(status: Mapping[str, object]) -> MailKind | None:
    """The mail a user's status (the `drop.{id}.user.{uid}` payload) calls for, if any.

    A backup who was never promoted ends as a loser with a backup position: whether that
    is "sold out" or "not selected" depends on the drop (see `closing_kind`), so it is
    "not_selected" here and the caller refines it.
    """
    match status.get("status"):
        case "registered":
            return "entry"
        case "winner":
            return "promoted" if status.get("promoted") else "won"
        case "expired":
            return "lapsed"
        case "loser":
            return "not_selected"
    return None


def was_backup(status: Mapping[str, object]) -> bool:
    return status.get("backupPosition") is not None


def closing_kind(sold_out: bool) -> MailKind:
    """What a backup who never got their turn is told when the drop ends."""
    return "sold_out" if sold_out else "not_selected"


# SMTP servers refuse for a while (greylisting, rate limits, an outage): a message not taken
# is offered again after gaps doubling from a second to ten minutes, for about a day.
RETRY_FIRST = timedelta(seconds=1)
RETRY_LONGEST = timedelta(minutes=10)
RETRY_FOR = timedelta(days=1)


def retry_delay(round_: int) -> timedelta:
    """The wait before retry round `round_` (1, 2, ...)."""
    return min(RETRY_FIRST * (1 << min(round_ - 1, 30)), RETRY_LONGEST)


def retry_rounds() -> int:
    """How many retry rounds there are before a message still not taken is paused."""
    rounds, waited = 0, timedelta(0)
    while waited < RETRY_FOR:
        rounds += 1
        waited += retry_delay(rounds)
    return rounds


def mail_key(drop_id: str, user_id: str, kind: str) -> str:
    """The one name of this message everywhere: the Mailer's key and idempotency key."""
    return f"{drop_id}:{user_id}:{kind}"


def message_id(drop_id: str, user_id: str, kind: MailKind, sender: str) -> str:
    """A stable Message-ID, so a copy sent again after a crash is recognisably the same
    message. Ids hold only [A-Za-z0-9_-], which a Message-ID's left part allows."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{drop_id}.{user_id}.{kind}@{domain}>"


def link_nonce(drop_id: str, user_id: str, kind: MailKind, deadline: int) -> str:
    """The single-use nonce of a message's sign-in link: the same for every copy of the
    message (a resent mail carries the same link), new for each window."""
    text = f"{drop_id}\x00{user_id}\x00{kind}\x00{deadline}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def plain_deadline(deadline_ms: int, now_ms: int) -> str:
    """A deadline in plain words: when it is (UTC) and how long from now."""
    at = datetime.fromtimestamp(deadline_ms / 1000, tz=UTC)
    left_s = max(0, (deadline_ms - now_ms) // 1000)
    hours, rest = divmod(left_s, 3600)
    minutes = rest // 60
    if hours:
        span = f"{hours} hour{'s' if hours != 1 else ''}"
        if minutes:
            span += f" {minutes} minute{'s' if minutes != 1 else ''}"
    elif minutes:
        span = f"{minutes} minute{'s' if minutes != 1 else ''}"
    else:
        span = "less than a minute"
    return f"{at:%A %-d %B %Y at %H:%M} UTC (in {span} from when this was sent)"
