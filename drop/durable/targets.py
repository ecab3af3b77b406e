"""Every handler another process calls, as a typed `Target[In, Out]`: the api's ingress
calls and the worker's calls name these, never a (service, handler) string."""

from __future__ import annotations

from drop.contracts import DropState, LoyaltyOut
from drop.durable.base import NONE, Batch, Target, target
from drop.durable.drops import (
    Created,
    DrawIn,
    DrawSummary,
    EntryBatch,
    ExpiryOut,
    ForUser,
    InclusionOut,
    LotteryProofOut,
    NewDrop,
    NoInclusion,
    NoProof,
    OrdersOut,
    PromotedOut,
    Purchased,
    PurchaseTry,
    Registered,
    SizeFunnel,
    TokenOut,
)
from drop.durable.mail import Echoed, MailBatch, MailIn, MailOut
from drop.durable.people import (
    Balance,
    Consumed,
    ConsumeIn,
    Credited,
    CreditIn,
    OutcomeIn,
    ParticipationIn,
    PeopleChunk,
    SettleIn,
    TokenIssuedIn,
)
from drop.durable.queue import (
    ExpireIn,
    Found,
    JoinBatch,
    Joined,
    LiveQueueStats,
    NotFound,
    QueueStats,
    Stale,
    SweepIn,
    Swept,
    Ticked,
    TickIn,
    TokenUses,
)

DROP_INITIALIZE = target("Drop", "initialize", NewDrop, Created)
DROP_REGISTER_BATCH = target("Drop", "registerBatch", EntryBatch, Batch[Registered])
DROP_GET_STATE = target("Drop", "getState", NONE, DropState)
DROP_LOTTERY_PROOF: Target[None, LotteryProofOut | NoProof]
DROP_LOTTERY_PROOF = Target("Drop", "getLotteryProof", None, LotteryProofOut | NoProof)
DROP_INCLUSION_PROOF: Target[ForUser, InclusionOut | NoInclusion] = Target(
    "Drop", "getInclusionProof", ForUser, InclusionOut | NoInclusion
)
DROP_RUN_LOTTERY = target("Drop", "runLottery", DrawIn, DrawSummary)
DROP_CLOSE_WINDOW = target("Drop", "closePurchaseWindow", NONE, DrawSummary)
DROP_CHECK_EXPIRY = target("Drop", "checkWinnerExpiry", ForUser, ExpiryOut)
DROP_START_PURCHASE = target("Drop", "startPurchase", ForUser, TokenOut)
DROP_COMPLETE_PURCHASE = target("Drop", "completePurchase", PurchaseTry, Purchased)
DROP_PROMOTE_BACKUP = target("Drop", "promoteBackup", NONE, PromotedOut)
DROP_SIZE_FUNNEL = target("Drop", "getSizeFunnel", NONE, SizeFunnel)
PARTICIPANT_OUTCOME = target("Participant", "applyOutcome", OutcomeIn, NONE)
PARTICIPANT_TOKEN = target("Participant", "tokenIssued", TokenIssuedIn, NONE)
PARTICIPANT_SETTLE = target("Participant", "settle", SettleIn, NONE)
SETTLE_OUTCOMES = target("Settlement", "publishOutcomes", PeopleChunk, NONE)
SETTLE_CHUNK = target("Settlement", "settleChunk", PeopleChunk, NONE)
ROLLOVER_BALANCE = target("UserRollover", "getBalance", NONE, Balance)
ROLLOVER_CONSUME = target("UserRollover", "consumeRollover", ConsumeIn, Consumed)
ROLLOVER_ADD = target("UserRollover", "addRollover", CreditIn, Credited)
LOYALTY_MULTIPLIER = target("UserLoyalty", "getMultiplier", NONE, LoyaltyOut)
LOYALTY_RECORD = target("UserLoyalty", "recordParticipation", ParticipationIn, LoyaltyOut)
QUEUE_JOIN_BATCH = target("QueueAdmission", "joinBatch", JoinBatch, Batch[Joined])
QUEUE_USE_TOKENS = target("QueueAdmission", "useTokens", TokenUses, Batch[Found])
QUEUE_TICK: Target[TickIn, Ticked | Stale] = Target(
    "QueueAdmission", "tick", TickIn, Ticked | Stale
)
QUEUE_EXPIRE: Target[ExpireIn, Found | NotFound] = Target(
    "QueueAdmission", "markTokenExpired", ExpireIn, Found | NotFound
)
QUEUE_SWEEP = target("QueueAdmission", "sweepReady", SweepIn, Swept)
QUEUE_STATS: Target[None, LiveQueueStats | QueueStats]
QUEUE_STATS = Target("QueueAdmission", "getQueueStats", None, LiveQueueStats | QueueStats)
DROP_ORDERS = target("Drop", "getOrders", NONE, OrdersOut)
MAIL_SEND = target("Mailer", "send", MailIn, MailOut)
# One call per batch of the mail feed starts all its sends: one ingress request instead of
# one per message.
MAIL_DISPATCH = target("MailFanout", "dispatch", MailBatch, NONE)
DIAG_PING = target("Diagnostics", "ping", NONE, str)
DIAG_ECHO = target("Diagnostics", "echo", str, Echoed)
