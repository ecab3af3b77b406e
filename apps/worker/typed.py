"""Handlers registered with their contract models (`drop.durable`).

A handler is written as `async def h(ctx, req: SomeModel) -> Answer`; `handler` registers
it so that the input is checked against `SomeModel` first (a failure is a terminal 400,
since retrying cannot help and would block the object's key) and the answer is written
with the model's camelCase names. Only a failed validation is a 400: any other exception
in a handler is a bug, retried and paused like every other failure.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import restate
from pydantic import TypeAdapter, ValidationError
from restate.serde import Serde

from apps.worker.effects import fail

log = logging.getLogger("worker")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Durable = restate.VirtualObject | restate.Service

# JSON that does not parse reaches validation as this (refused like any other bad input).
_UNREADABLE = object()


class _Json(Serde[object]):
    """The input as JSON values, validated by the handler's wrapper (never raises)."""

    def deserialize(self, buf: bytes) -> object:
        if not buf:
            return {}
        try:
            return json.loads(buf)
        except ValueError:
            return _UNREADABLE

    def serialize(self, obj: object) -> bytes:
        return json.dumps(obj).encode()


class _Answer(Serde[Any]):
    def __init__(self, adapter: TypeAdapter[Any]) -> None:
        self.adapter = adapter

    def deserialize(self, buf: bytes) -> Any:
        return self.adapter.validate_json(buf) if buf else None

    def serialize(self, obj: Any) -> bytes:
        return b"" if obj is None else self.adapter.dump_json(obj, by_alias=True)


def handler(
    service: Durable,
    *,
    refused: tuple[str, str] = ("invalid_request", "the request is malformed"),
    **options: Any,
) -> Callable[[F], F]:
    """Register `fn` on `service`; `refused` is the code and message of a bad input."""

    def register(fn: F) -> F:
        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        answer = _Answer(TypeAdapter(hints.get("return", type(None))))
        if len(params) == 1:
            service.handler(output_serde=answer, **options)(fn)
            return fn
        model: TypeAdapter[Any] = TypeAdapter(hints[params[1]])
        code, message = refused

        @functools.wraps(fn)
        async def checked(ctx: Any, raw: object) -> Any:
            try:
                req = model.validate_python(raw)
            except ValidationError as exc:
                log.warning("%s refused malformed input: %s", fn.__name__, exc.errors()[:3])
                raise fail(code, message, 400) from None
            return await fn(ctx, req)

        service.handler(input_serde=_Json(), output_serde=answer, **options)(checked)
        return fn

    return register
