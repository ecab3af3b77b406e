"""The Drop virtual object and its retry policy.

State is lazy (`state_preload=False`): each handler loads only the keys it touches, so a
registration batch costs the same with 10 or 50,000 participants. Keys:
  config            the DropConfig (wire form), immutable after initialize
  core              phase, counters, commitment, secret, lottery times, backup cursor
  entries:{n}       chunks of CHUNK entry rows (see `state.Row`)
  user:{userId}     the user's position (1-based): dedupes entries
  proof             the published lottery proof (wire form)
  backups           ordered backup user ids
  winner:{userId}   {deadline, promoted, state: active|purchased|expired}
  tok:{userId}      the issued purchase token {token, expiresAt, used}
"""

from __future__ import annotations

from datetime import timedelta

import restate

# Errors a caller can fix are terminal at once; anything else (NATS or a peer briefly
# away) is retried with backoff, and an invocation still failing after about a minute is
# given up rather than left to block every later call on the drop.
CALLER_RETRIES = restate.InvocationRetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    exponentiation_factor=2.0,
    max_interval=timedelta(seconds=5),
    max_attempts=25,
    on_max_attempts="kill",
)

drop_object = restate.VirtualObject("Drop", state_preload=False)
