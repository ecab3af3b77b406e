"""A Restate service that does nothing but touch state, for `bench.entry_cost`.

`EntryProbe` (a virtual object, lazy state like the drop's and the waiting room's) reads
`reads` keys, all at once as the handlers do, then writes `writes` keys, and answers how
many were found. Served by granian over HTTP/2 cleartext, as the worker is:

    .venv/bin/python -m bench.entry_probe PORT
"""

from __future__ import annotations

import sys

import restate
from granian import Granian
from granian.constants import HTTPModes, Interfaces
from pydantic import BaseModel

probe = restate.VirtualObject("EntryProbe", state_preload=False)


class Touch(BaseModel):
    first: int
    reads: int
    writes: int
    # Wait for every read at once (`restate.gather`) before taking their values.
    gathered: bool = False


@probe.handler()
async def touch(ctx: restate.ObjectContext, req: Touch) -> int:
    keys = range(req.first, req.first + max(req.reads, req.writes))
    pending = [ctx.get(f"k:{n}", type_hint=int) for n in keys[: req.reads]]
    if req.gathered and pending:
        await restate.gather(*pending)  # type: ignore[arg-type]
    found = 0
    for future in pending:
        found += await future is not None
    for n in keys[: req.writes]:
        ctx.set(f"k:{n}", n)
    return found


app = restate.app(services=[probe])


def main() -> None:
    Granian(
        "bench.entry_probe:app",
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
