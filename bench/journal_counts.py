"""What a person of the open-loop crowd costs Restate: invocations and journal entries.

Runs one step of `bench.crowd_open` (the same private stack and crowd), then reads
restate-server's own tables through the admin's SQL endpoint: `sys_invocation` (every
invocation, finished ones kept for the journal retention, a day by default; delayed sends
not yet due are there too, `scheduled`) and `sys_journal` (their entries, commands and
the notifications that complete them). Prints both per registered person, by handler
and by entry type (docs/benchmarks.md, issue 25).

    .venv/bin/python -m bench.journal_counts --rate 150 --seconds 20
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench import crowd_open, crowd_stack
from bench.crowd import ENV

BY_HANDLER = (
    "SELECT target_service_name AS service, target_handler_name AS handler, status, "
    "count(*) AS invocations, sum(journal_size) AS entries FROM sys_invocation "
    "GROUP BY 1, 2, 3 ORDER BY 4 DESC"
)
BY_ENTRY = (
    "SELECT i.target_handler_name AS handler, j.entry_type AS entry, count(*) AS n "
    "FROM sys_journal j JOIN sys_invocation i ON j.id = i.id GROUP BY 1, 2 ORDER BY 1, 3 DESC"
)


def query(stack: crowd_stack.Running, sql: str) -> list[dict[str, Any]]:
    admin = getattr(stack, "admin_url", None)
    assert isinstance(admin, str), "a single-node stack"
    answer = httpx.post(
        f"{admin}/query", json={"query": sql}, headers={"Accept": "application/json"}, timeout=60
    )
    answer.raise_for_status()
    return list(answer.json()["rows"])


def report(stack: crowd_stack.Running, people: int) -> None:
    print(f"per registered person ({people}):")
    calls = entries = 0
    for row in query(stack, BY_HANDLER):
        n, journal = int(row["invocations"]), int(row.get("entries") or 0)
        calls, entries = calls + n, entries + journal
        print(
            f"  {row['service']}.{row['handler']} ({row['status']}): {n} invocations "
            f"({n / people:.4f}), {journal} journal entries ({journal / people:.3f})"
        )
    print(f"  in all: {calls / people:.4f} invocations, {entries / people:.3f} journal entries")
    for row in query(stack, BY_ENTRY):
        print(f"  {row['handler']:>16} {row['entry']:<34} {int(row['n']) / people:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=150.0, help="people/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="arrivals last this long")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # as crowd_open: one per person
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ("worker", "sse", "api"))
        with crowd_stack.reported(stack, None):
            step = crowd_open.run_step(stack, args.rate, args.seconds, 0, 25)
            crowd_open.report(step)
            report(stack, max(1, step["registered"]))


if __name__ == "__main__":
    main()
