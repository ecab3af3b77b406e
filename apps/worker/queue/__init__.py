"""QueueAdmission (key = dropId): the waiting room in front of a drop's registration.

Every join and every admission runs in this one object, so places in line are exact: a
token's place is computed from its sequence number, the head of the line and the few
tokens that left it out of order, never from counters raced by several processes. Joins
arrive in batches (`joinBatch`, the API's group commit) and tokens are spent in batches
(`useTokens`, from a registration batch), so a crowd costs a few invocations per second,
not one per person.

State is lazy (`state_preload=False`); a join or a tick touches a handful of keys whatever
the length of the line. Keys (typed, read and written in `state.py`):
  meta            config, counters, head/tail of the line, holes, admission-loop state
  rb:{n}          the tokens admitted by the n-th admitting tick or join (an admission batch);
                  the ready count lives in meta, so no key holds the whole ready set;
                  tokens spent three or more of a batch at once leave it (their records
                  name the batch), so the batch's sweep reads fewer records
  rs:{n}          the last admission batch swept by the timer of the bucket from batch n on,
                  written when the next bucket opens (the open one's is meta's)
  line:{n}        chunks of CHUNK tokens in join order (sequence number s is at
                  line:{(s-1)//CHUNK}[(s-1)%CHUNK])
  tok:{token}     the token's record: seq, status, hashes, times, user who used it
  fp:{hash}       live tokens of a device fingerprint (hashed by the API)
  ip:{hash}       tokens of an IP (hashed with IP_HASH_SALT by the API) holding a place, and
                  ones spent since (a spend leaves them; a join at the network's limit
                  reads their records and takes the spent ones out)

Token states: waiting → ready → used | expired (a waiting token also expires after
`maxAgeS`). A used token stays bound to the user who used it, so that user can retry a
registration that failed for another reason; a used token gives its network's waiting
place back (three *waiting* places per network, not three per drop); an expired token frees
its device and IP.

Admission spends one token bucket: `rate` per second, credited for the time that really
passed (one clock, `creditAt`), at most BURST_SECONDS of it saved, while fewer than
`maxConcurrent` tokens are ready. A join batch into an empty line admits its people itself
as far as the credit goes (their records are written once, already ready); whoever is left
waits for the admission loop, a chain of delayed `tick` calls to this object, one generation
at a time: a join that leaves someone waiting starts it, and it stops when nobody is
waiting. Each join or tick that admits makes one admission batch; batches whose ready
windows end within SHARE_MS of each other share one durable timer (`sweepReady`), due
SHARE_MS after the first one's window, which expires whatever of them is still unused.

Events on `queue.{dropId}.{token}`: `queue_ready`, `queue_expired` and `queue_position`.
Positions move for every waiting token whenever the head moves, so publishing all of them
on every tick would cost O(waiting) per tick. Instead a tick that moved the line publishes
positions to the first HEAD_WINDOW waiting tokens (about to be admitted, where the number
matters most) and to SWEEP_BUDGET more taken round-robin from the rest of the line; each
join publishes the joiner's first position (or its `queue_ready`, when the join admitted
it). Status and heartbeat calls always compute the exact place on demand, in the API, from
the mirror: each token's view is written to the `queue_tokens` key-value bucket under
`{dropId}.{token}` when it joins and whenever its status changes, and the line's head and
counters under `{dropId}._meta` by every step, so status, heartbeat and stats never call
this object (a waiting token's new place goes out as an event only: the API computes it
from `_meta`).
"""

from apps.worker.queue import admission, join, tokens
from apps.worker.queue.object import queue_admission

__all__ = ["admission", "join", "queue_admission", "tokens"]
