"""The durable contract: every handler's input and answer, and a typed `Target[In, Out]`
for each, used by the api's ingress calls and the worker's calls alike. camelCase on the
wire; an input that fails its model is refused with 400 before the handler runs."""

from __future__ import annotations

import json
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter
from pydantic.alias_generators import to_camel

from drop.contracts import DropConfig, DropState, LoyaltyOut, RegisterOut, UserState

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")


class Durable(BaseModel):
    """Unknown fields are ignored, so an older or newer caller's extra keys do no harm."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        allow_inf_nan=False,
    )


class Target(Generic[In, Out]):
    """A handler by (service, handler), with what it takes and what it answers."""

    def __init__(self, service: str, handler: str, takes: Any, gives: Any) -> None:
        self.service, self.handler = service, handler
        self.takes: TypeAdapter[In] = TypeAdapter(takes)
        self.gives: TypeAdapter[Out] = TypeAdapter(gives)

    def encode(self, payload: In) -> bytes:
        if payload is None:
            return b""
        return self.takes.dump_json(payload, by_alias=True)

    def wire(self, payload: In) -> JsonValue:
        """The payload as JSON values, for an HTTP client that encodes it itself."""
        return None if payload is None else json.loads(self.encode(payload))

    def decode(self, raw: bytes) -> Out:
        return self.gives.validate_json(raw or b"null")

    def answer_wire(self, answer: Out) -> Any:
        """The answer as JSON values, exactly as the handler sent it."""
        return self.gives.dump_python(answer, by_alias=True, mode="json")


NONE = type(None)


def target(service: str, handler: str, takes: type[In], gives: type[Out]) -> Target[In, Out]:
    return Target(service, handler, takes, gives)


# --- batches: one refused item fails only itself ----------------------------------------


class Refusal(Durable):
    status: int
    code: str
    message: str


class Refused(Durable):
    error: Refusal


class Ok(Durable, Generic[T]):
    ok: T


def refusal(status: int, code: str, message: str) -> Refused:
    return Refused(error=Refusal(status=status, code=code, message=message))


class Batch(Durable, Generic[T]):
    results: list[Ok[T] | Refused]


# --- Drop -----------------------------------------------------------------------------


class NewDrop(DropConfig):
    """A drop's config as `initialize` takes it: the id may come from the key alone."""

    drop_id: str | None = None  # type: ignore[assignment]


class Created(Durable):
    drop_id: str
    commitment: str
    created: bool


class EntryBatch(Durable):
    # Judged one by one (`drop.contracts.EntryIn`): a malformed entry is refused alone.
    entries: list[JsonValue] = Field(default_factory=list)


class Registered(RegisterOut):
    receipt: dict[str, JsonValue]


class DrawIn(Durable):
    trigger: str | None = None


class DrawSummary(Durable):
    phase: str
    winner_count: int
    backup_winner_count: int
    purchase_end: int | None


class NoProof(Durable):
    available: Literal[False]
    commitment: str | None = None


class LotteryProofOut(Durable):
    available: Literal[True]
    proof: dict[str, JsonValue]
    commitment: str


class NoInclusion(Durable):
    available: Literal[False]


class InclusionOut(Durable):
    available: Literal[True]
    proof: dict[str, JsonValue]


class ForUser(Durable):
    # Checked by the handler (400 `userId is required`) after the drop's existence is known.
    user_id: str | None = None


class PurchaseTry(Durable):
    user_id: str | None = None
    purchase_token: str | None = None


class TokenOut(Durable):
    success: bool
    purchase_token: str
    expires_at: int


class Purchased(Durable):
    success: bool
    inventory: int
    phase: str
    order_id: str


class ExpiryOut(Durable):
    expired: bool
    promoted: str | None = None


class PromotedOut(Durable):
    promoted: str


class SizeStage(Durable):
    """One size's funnel (admin): its stock, who ranked it, who was drawn for it, sales."""

    id: str
    label: str
    inventory: int
    left: int
    ranked_first: int
    ranked_any: int
    winners: int
    backups: int
    sold: int


class SizeFunnel(Durable):
    drop_id: str
    phase: str
    participant_count: int
    variants: list[SizeStage]


# --- Participant and Settlement ---------------------------------------------------------

Outcome = Literal["winner", "backup_winner", "loser", "expired", "purchased"]


class OutcomeIn(Durable):
    outcome: Outcome
    at_ms: int = 0
    deadline: int | None = None
    promoted: bool = False
    backup_position: int | None = None
    # The size given (winner, backup) on a drop with sizes.
    variant: str | None = None
    # The registration a drawn user's object starts from (sent with the draw's outcomes).
    registered: UserState | None = None


class TokenIssuedIn(Durable):
    token: str
    expires_at: int


class SettleIn(Durable):
    bought: bool = False


class PeopleChunk(Durable):
    """People of a drop to tell or settle: (position, entry row) pairs; in a settle chunk
    each row ends with a flag (0, drawn or bought)."""

    drop_id: str
    people: list[tuple[int, list[JsonValue]]]
    at_ms: int = 0
    chunk: int = 0


# --- UserRollover and UserLoyalty --------------------------------------------------------


class Balance(Durable):
    balance: int


class ConsumeIn(Durable):
    drop_id: str
    wanted: int


class Consumed(Durable):
    used: int
    balance: int


class CreditIn(Durable):
    drop_id: str
    credits: int


class Credited(Durable):
    balance: int
    credited: int


class ParticipationIn(Durable):
    drop_id: str
    at_ms: int


# --- QueueAdmission -----------------------------------------------------------------------


class JoinBatch(Durable):
    # Judged one by one (hex digests), so one malformed join is refused alone.
    joins: list[JsonValue] = Field(default_factory=list)
    config: JsonValue = None


class JoinIn(Durable):
    fingerprint_hash: JsonValue = None
    ip_hash: JsonValue = None
    config: JsonValue = None


class Joined(Durable):
    success: bool
    token: str
    status: str
    position: int
    ahead_of_you: int
    total_in_queue: int
    estimated_wait_seconds: int
    expires_at: int | None


class TickIn(Durable):
    gen: int | None = None


class Stale(Durable):
    stale: Literal[True]


class Ticked(Durable):
    admitted: int
    expired: int
    waiting: int
    ready: int


class SweepIn(Durable):
    batch: int
    at: int


class Swept(Durable):
    expired: int


class TokenView(Durable):
    """What a token's holder may see (no hashes): the exact place in line."""

    token: str
    drop_id: str
    seq: int
    used_by: str | None
    status: str
    position: int
    ahead_of_you: int
    total_in_queue: int
    estimated_wait_seconds: int
    joined_at: int
    ready_at: int | None
    expires_at: int | None
    updated_at: int


class ExpireIn(Durable):
    token: str = ""
    reason: str | None = None


class NotFound(Durable):
    found: Literal[False]


class Found(TokenView):
    found: Literal[True]


class TokenUse(Durable):
    token: str = ""
    user_id: str = ""


class TokenUses(Durable):
    uses: list[TokenUse] = Field(default_factory=list)


class TokenQuery(Durable):
    token: str = ""


class UnknownToken(Durable):
    found: Literal[False]
    token: str
    drop_id: str


class QueueStats(Durable):
    waiting_count: int
    ready_count: int
    total_issued: int
    total_admitted: int
    total_used: int
    total_expired: int
    admission_loop_active: bool


class LiveQueueStats(QueueStats):
    admission_rate: float
    max_concurrent: int


class Echoed(Durable):
    id: str
    seq: int


# --- Mailer and the orders export -------------------------------------------------------


class MailIn(Durable):
    """One message to send: to whom (by userId; the address is looked up as it is sent,
    never carried here), what kind, and the status and event time it tells of."""

    drop_id: str
    user_id: str
    kind: str
    status: dict[str, JsonValue] = Field(default_factory=dict)
    at_ms: int = 0


class MailOut(Durable):
    # "sent <Message-ID>", or why nothing was sent ("no address", "unsubscribed", ...).
    outcome: str


class OrderRow(Durable):
    order_id: str
    user_id: str
    variant_id: str | None = None
    amount_units: int = 0
    at_ms: int | None = None


class OrdersOut(Durable):
    drop_id: str
    product_name: str
    orders: list[OrderRow]


# --- every handler another process calls --------------------------------------------------

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
DIAG_PING = target("Diagnostics", "ping", NONE, str)
DIAG_ECHO = target("Diagnostics", "echo", str, Echoed)
