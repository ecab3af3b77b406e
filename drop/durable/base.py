"""The durable contract's building blocks: the `Durable` model every handler's input and
answer derives from, the typed `Target[In, Out]`, and batches where one refused item fails
only itself. camelCase on the wire; an input that fails its model is refused with 400 before
the handler runs."""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter
from pydantic.alias_generators import to_camel

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
