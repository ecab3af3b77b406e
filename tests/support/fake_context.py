"""A stand-in for a handler's object context, for unit tests of the worker's pure logic.

It holds the object's state as JSON (written and read back as the SDK's default serde does,
so a test sees exactly what would be stored), answers `key()`, and records sends. It runs no
journaled step: a test answers the steps whose value the code uses (the clock, random
parts) in `answers`; any other step (publishing events) is only recorded in `steps`.
Integration tests, not this, cover Restate itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar, cast

import restate
from pydantic import BaseModel

T = TypeVar("T")


class Done(Generic[T]):
    """An already-known value that can be awaited like the SDK's futures."""

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[None, None, T]:
        if False:  # a generator that returns at once
            yield
        return self.value


@dataclass(frozen=True)
class Sent:
    target: str
    payload: Any
    key: str | None
    delay: timedelta | None


@dataclass
class FakeContext:
    object_key: str
    answers: dict[str, Any] = field(default_factory=dict)
    stored: dict[str, bytes] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    # Every key read, in order: what a handler costs in state reads.
    reads: list[str] = field(default_factory=list)
    # Every key written, in order: what a handler costs in state writes.
    writes: list[str] = field(default_factory=list)

    @property
    def ctx(self) -> restate.ObjectContext:
        """This fake, typed as the context the code under test takes."""
        return cast(restate.ObjectContext, self)

    def key(self) -> str:
        return self.object_key

    def get(self, name: str, type_hint: type[Any] | None = None) -> Done[Any]:
        self.reads.append(name)
        raw = self.stored.get(name)
        if raw is None:
            return Done(None)
        if isinstance(type_hint, type) and issubclass(type_hint, BaseModel):
            return Done(type_hint.model_validate_json(raw))
        return Done(json.loads(raw))

    def set(self, name: str, value: object) -> None:
        self.writes.append(name)
        if isinstance(value, BaseModel):
            self.stored[name] = value.model_dump_json().encode()
        else:
            self.stored[name] = json.dumps(value).encode()

    def clear(self, name: str) -> None:
        self.stored.pop(name, None)

    def run_typed(self, name: str, action: Callable[[], object]) -> Done[Any]:
        self.steps.append(name)
        return Done(self.answers.get(name))

    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
    ) -> None:
        self.sent.append(Sent(f"{service}/{handler}", json.loads(arg), key, send_delay))

    # What a test reads back.

    def state(self, name: str) -> Any:
        """The stored JSON value of `name` (None when unset)."""
        raw = self.stored.get(name)
        return None if raw is None else json.loads(raw)
