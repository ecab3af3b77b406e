"""Every handler another process calls, as a typed `Target[In, Out]`: the api's ingress
calls and the worker's calls name these, never a (service, handler) string."""

from __future__ import annotations

from drop.contracts import DropState, LoyaltyOut
from drop.durable import drops, mail, people, queue, webhooks
from drop.durable.base import NONE, Batch, Target, target

DROP_INITIALIZE = target("Drop", "initialize", drops.NewDrop, drops.Created)
DROP_REGISTER_BATCH = target("Drop", "registerBatch", drops.EntryBatch, Batch[drops.Registered])
DROP_GET_STATE = target("Drop", "getState", NONE, DropState)
DROP_LOTTERY_PROOF: Target[None, drops.LotteryProofOut | drops.NoProof]
DROP_LOTTERY_PROOF = Target("Drop", "getLotteryProof", None, drops.LotteryProofOut | drops.NoProof)
DROP_INCLUSION_PROOF: Target[drops.ForUser, drops.InclusionOut | drops.NoInclusion] = Target(
    "Drop", "getInclusionProof", drops.ForUser, drops.InclusionOut | drops.NoInclusion
)
DROP_RUN_LOTTERY = target("Drop", "runLottery", drops.DrawIn, drops.DrawSummary)
DROP_CLOSE_WINDOW = target("Drop", "closePurchaseWindow", NONE, drops.DrawSummary)
DROP_CHECK_EXPIRY = target("Drop", "checkWinnerExpiry", drops.ForUser, drops.ExpiryOut)
DROP_START_PURCHASE = target("Drop", "startPurchase", drops.ForUser, drops.TokenOut)
DROP_COMPLETE_PURCHASE = target("Drop", "completePurchase", drops.PurchaseTry, drops.Purchased)
DROP_PROMOTE_BACKUP = target("Drop", "promoteBackup", NONE, drops.PromotedOut)
DROP_SIZE_FUNNEL = target("Drop", "getSizeFunnel", NONE, drops.SizeFunnel)
PARTICIPANT_OUTCOME = target("Participant", "applyOutcome", people.OutcomeIn, NONE)
PARTICIPANT_TOKEN = target("Participant", "tokenIssued", people.TokenIssuedIn, NONE)
PARTICIPANT_SETTLE = target("Participant", "settle", people.SettleIn, NONE)
SETTLE_OUTCOMES = target("Settlement", "publishOutcomes", people.PeopleChunk, NONE)
SETTLE_CHUNK = target("Settlement", "settleChunk", people.PeopleChunk, NONE)
ROLLOVER_BALANCE = target("UserRollover", "getBalance", NONE, people.Balance)
ROLLOVER_CONSUME = target("UserRollover", "consumeRollover", people.ConsumeIn, people.Consumed)
ROLLOVER_ADD = target("UserRollover", "addRollover", people.CreditIn, people.Credited)
LOYALTY_MULTIPLIER = target("UserLoyalty", "getMultiplier", NONE, LoyaltyOut)
LOYALTY_RECORD = target("UserLoyalty", "recordParticipation", people.ParticipationIn, LoyaltyOut)
QUEUE_JOIN_BATCH = target("QueueAdmission", "joinBatch", queue.JoinBatch, Batch[queue.Joined])
# The drop asks for brief answers (`TokenUses.brief`): it reads only the refusals.
QUEUE_USE_TOKENS = target("QueueAdmission", "useTokens", queue.TokenUses, Batch[queue.Spent])
QUEUE_TICK: Target[queue.TickIn, queue.Ticked | queue.Stale] = Target(
    "QueueAdmission", "tick", queue.TickIn, queue.Ticked | queue.Stale
)
QUEUE_EXPIRE: Target[queue.ExpireIn, queue.Found | queue.NotFound] = Target(
    "QueueAdmission", "markTokenExpired", queue.ExpireIn, queue.Found | queue.NotFound
)
QUEUE_SWEEP = target("QueueAdmission", "sweepReady", queue.SweepIn, queue.Swept)
QUEUE_STATS: Target[None, queue.LiveQueueStats | queue.QueueStats]
QUEUE_STATS = Target(
    "QueueAdmission", "getQueueStats", None, queue.LiveQueueStats | queue.QueueStats
)
DROP_ORDERS = target("Drop", "getOrders", NONE, drops.OrdersOut)
MAIL_SEND = target("Mailer", "send", mail.MailIn, mail.MailOut)
# One call per batch of the mail feed sends all its messages: one invocation (and one ingress
# request) instead of one per message; what the server did not take yet goes to `retry`.
MAIL_DISPATCH = target("MailFanout", "dispatch", mail.MailBatch, NONE)
MAIL_RETRY = target("MailFanout", "retry", mail.MailRetry, NONE)
DIAG_PING = target("Diagnostics", "ping", NONE, str)
DIAG_ECHO = target("Diagnostics", "echo", str, mail.Echoed)
# The order behind an `order.completed` webhook (a shared read: it never waits for the drop).
DROP_GET_ORDER = target("Drop", "getOrder", drops.ForUser, drops.OrderOut)
WEBHOOK_DELIVER = target("WebhookDelivery", "deliver", webhooks.DeliveryIn, NONE)
WEBHOOK_ATTEMPT = target("WebhookDelivery", "attempt", webhooks.NextAttempt, NONE)
# One call per batch of the feed starts all its deliveries: one ingress request instead
# of one per delivery.
WEBHOOK_DISPATCH = target("WebhookFanout", "dispatch", webhooks.Dispatch, NONE)
# An operator's retry of a delivery that gave up (or went through): the same webhook-id.
WEBHOOK_RETRY = target("WebhookDelivery", "retry", NONE, NONE)
