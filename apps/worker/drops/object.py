"""The Drop virtual object and its retry policy.

State is lazy (`state_preload=False`): each handler loads only the keys it touches, so a
registration batch costs the same with 10 or 50,000 participants. Keys:
  config            the DropConfig (wire form), immutable after initialize
  core              phase, counters, commitment, secret, lottery times, backup cursor; with
                    sizes also variantInventory {variantId: left} and promoted [userId]
  entries:{n}       chunks of CHUNK entry rows (see `state.Row`)
  user:{userId}     the user's position (1-based): dedupes entries
  proof             the published lottery proof (wire form)
  backups           ordered backup user ids
  backupRankings    with sizes: {userId: [variantId, ...]} of each backup
  winner:{userId}   {deadline, promoted, state: active|purchased|expired(, variant)}
  tok:{userId}      the issued purchase token {token, expiresAt, used}
  order:{userId}    the user's order {orderId, at, payment(, variant)}
  orders            the sales ledger [[orderId, userId(, variantId)], ...] in the order sold
  alarm             a broken invariant {reason, when, atMs} (see `watch`)
"""

from __future__ import annotations

import restate

from apps.worker.retries import PAUSE_WHEN_STUCK

# Handlers answering a caller keep the one policy every state-changing handler has: retried
# with short gaps, paused (never killed halfway) when stuck. See `apps.worker.retries`.
CALLER_RETRIES = PAUSE_WHEN_STUCK

drop_object = restate.VirtualObject(
    "Drop", state_preload=False, invocation_retry_policy=PAUSE_WHEN_STUCK
)
