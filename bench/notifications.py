"""Issue 22's acceptance: a draw where everyone gave an email and two webhook endpoints
are registered, against the same draw with notifications off, in one run on one stack
(docs/benchmarks.md, Notifications).

Starts a private stack (nats-server, restate-server, the local SMTP server of
devtools/devsmtp.py, api, and the worker as deployed: the drop's handlers in one process
(WORKER_ROLE=drops) and mail and webhooks in another, at a lower CPU priority; or one
worker with `--one-worker`) and runs `--rounds` pairs of drops,
alternating which goes first (A/B/A/B). Each drop is filled and drawn as in
bench/webhooks.py, each with userIds of its own. "On": before anyone enters, every
person's address is written to the `contacts` bucket as registration writes it, and two
local receivers are registered for every webhook event. "Off": no addresses, no
endpoints (the worker's feeds still read every event and find nothing to send).

Per drop: the time from the close to the last winner's and the last participant's live
outcome event; for "on", also the mail at the SMTP server (its Maildir): messages per
second from the first arrival to the last, each expected message (an entry confirmation
per person, an outcome per winner and loser) found by Message-ID, repeats counted, and
the webhook deliveries each receiver verified against those expected.

    .venv/bin/python -m bench.notifications [--people N] [--rounds 2] [--open-for S] [--one-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import crowd_stack
from bench.proofs import user_ids
from bench.webhooks import ENV, Drawn, compared, one_draw, timings
from devtools import devstack
from drop.adapters.contact_store import ContactStore
from tests.support.stack import Stack
from tests.support.webhook_receiver import started

# Winners' windows outlast the run, so no lapse or promotion adds mail mid-measurement.
PURCHASE_WINDOW_S = 4 * 3600
CONTACT_WRITES = 500
# No new message for this long: what has not arrived is counted as lost.
STALL_S = 120.0
WORKERS = ("worker", "worker-notifications")
# CPU time is counted for these per drop: on a shared machine, what a message costs in CPU
# says more than a rate that depends on the neighbours' load.
COUNTED = (*WORKERS, "restate", "smtp", "nats")
_MESSAGE_ID = re.compile(rb"(?im)^message-id:\s*<([^>]+)>")


@dataclass
class Inbox:
    """What the SMTP server has kept: each message's Message-ID and arrival (mtime)."""

    maildir: Path
    seen: set[str] = field(default_factory=set)
    # Message-ID -> arrival times of each copy.
    arrived: dict[str, list[float]] = field(default_factory=dict)

    def scan(self) -> int:
        """Read messages that came since the last scan; how many."""
        folder = self.maildir / "new"
        if not folder.exists():
            return 0
        fresh = 0
        for entry in os.scandir(folder):
            if entry.name in self.seen:
                continue
            self.seen.add(entry.name)
            with open(entry.path, "rb") as f:
                head = f.read(4096)
            found = _MESSAGE_ID.search(head)
            msg_id = found.group(1).decode() if found else f"(none) {entry.name}"
            self.arrived.setdefault(msg_id, []).append(entry.stat().st_mtime)
            fresh += 1
        return fresh

    def of_drop(self, drop_id: str) -> dict[str, list[float]]:
        return {k: v for k, v in self.arrived.items() if k.startswith(f"{drop_id}.")}


def mail_kind(msg_id: str) -> str:
    """`{dropId}.{userId}.{kind}@domain` (drop.domain.mail.message_id) -> kind."""
    return msg_id.partition("@")[0].rpartition(".")[2]


async def write_contacts(store: ContactStore, people: int, prefix: str) -> float:
    """Every person's address, as registration keeps it; seconds taken."""
    start = time.perf_counter()
    ids = user_ids(people, prefix)
    for first in range(0, people, CONTACT_WRITES):
        chunk = ids[first : first + CONTACT_WRITES]
        await asyncio.gather(
            *(store.remember(uid, f"{uid.lower()}@bench.example") for uid in chunk)
        )
    return time.perf_counter() - start


def expected_mail(drawn: Drawn, people: int) -> Counter[str]:
    """An entry confirmation per person, "won" per winner, "not_selected" per loser
    (backups hear nothing until the drop ends)."""
    return Counter(
        {
            "entry": people,
            "won": len(drawn.by_type["winner"]),
            "not_selected": len(drawn.by_type["loser"]),
        }
    )


async def mail_of(inbox: Inbox, drawn: Drawn, expected: Counter[str]) -> str:
    """Wait until every expected message of the drop is in (or none came for STALL_S);
    the mail's figures."""
    want = sum(expected.values())
    last_progress = time.monotonic()
    while len(inbox.of_drop(drawn.drop_id)) < want:
        if await asyncio.to_thread(inbox.scan):
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            break
        await asyncio.sleep(1.0)
    mine = inbox.of_drop(drawn.drop_id)
    kinds = Counter(mail_kind(k) for k in mine)
    copies = sum(len(v) for v in mine.values())
    times = sorted(t for v in mine.values() for t in v)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    close = drawn.close_ms / 1000
    after = [t for t in times if t >= close]
    burst = after[-1] - after[0] if len(after) > 1 else 0.0
    lost = {k: expected[k] - kinds[k] for k in expected if kinds[k] < expected[k]}
    return (
        f"    mail: {len(mine)} of {want} expected messages by Message-ID "
        f"({dict(kinds)}), {copies - len(mine)} repeated copies, lost: {lost or 'none'}\n"
        f"    mail rate: {_rate(copies, span)} from the first arrival to the last; after the "
        f"close (the outcomes, all due at once): {_rate(len(after), burst)}, the last "
        f"{times[-1] - close if times else 0:.1f} s after the close"
    )


def cpu_used(now: dict[str, float], before: dict[str, float]) -> str:
    used = {name: now[name] - before.get(name, 0.0) for name in now}
    return "CPU seconds used by the drop: " + ", ".join(f"{n} {s:.1f}" for n, s in used.items())


def _rate(count: int, seconds: float) -> str:
    return f"{count} in {seconds:.1f} s = {count / seconds if seconds else 0:.0f} messages/s"


async def measure(args: argparse.Namespace, stack: Stack) -> None:
    receivers = [await started(devstack.free_port()) for _ in range(2)]
    bus = await stack.connect_bus("bench-contacts")
    contacts = ContactStore(bus)
    inbox = Inbox(stack.maildir)
    people = args.people

    async def addresses(drop_id: str, prefix: str) -> None:
        took = await write_contacts(contacts, people, prefix)
        print(f"    {people} addresses written in {took:.1f} s", flush=True)

    results: dict[str, list[Drawn]] = {"off": [], "on": []}
    try:
        for n in range(args.rounds):
            order = ("off", "on") if n % 2 == 0 else ("on", "off")
            for label in order:
                print(f"  {label}: start, {crowd_stack.load_note()}", flush=True)
                cpu_before = crowd_stack.cpu_by_name(stack, COUNTED)
                for r in receivers:
                    r.received.clear()
                on = label == "on"
                got = await one_draw(
                    stack,
                    people,
                    receivers if on else [],
                    prepare=addresses if on else None,
                    purchase_window_s=PURCHASE_WINDOW_S,
                    open_for_s=args.open_for,
                )
                results[label].append(got)
                print(f"  {label:>3}: {timings(got)}", flush=True)
                if on:
                    print(await mail_of(inbox, got, expected_mail(got, people)), flush=True)
                else:
                    await asyncio.to_thread(inbox.scan)
                    print(f"    mail for this drop: {len(inbox.of_drop(got.drop_id))} (none due)")
                quiet = await asyncio.to_thread(
                    crowd_stack.wait_quiet, stack, (*WORKERS, "restate"), args.settle
                )
                print(f"    quiet again {quiet:.0f} s later; {crowd_stack.load_note()}", flush=True)
                print(f"    {cpu_used(crowd_stack.cpu_by_name(stack, COUNTED), cpu_before)}")
    finally:
        await bus.close()
        for r in receivers:
            await r.stop()
    print(compared(results["off"], results["on"], "notifications off", "on"))
    for label in ("off", "on"):
        told = ", ".join(f"{d.last_told:.2f}" for d in results[label])
        print(f"  {label}: last outcome of each drop (s after close): {told}")


async def run(args: argparse.Namespace) -> None:
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-notifications-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, (), smtp=True)
        if args.one_worker:
            stack.start_app("worker")
        else:
            # As deployed: the drop's handlers in one worker, mail and webhooks in another.
            stack.split_workers()
        stack.start_app("api")
        for name in WORKERS:
            if name in stack.procs and (proc := stack.procs[name].popen) is not None:
                print(f"{name} pid {proc.pid} (for py-spy)", flush=True)
        with crowd_stack.reported(stack, "bench-notifications"):
            await measure(args, stack)
    print(f"end: {crowd_stack.load_note()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    # Entries slow down while entry mail is sent (docs/benchmarks.md): a longer
    # registration lets the fill finish before the close.
    parser.add_argument("--open-for", type=int, default=None, help="seconds of registration")
    # A drawn drop's follow-up work (loyalty, mail) must end before the next drop starts,
    # or the next one's creation times out on a saturated machine.
    parser.add_argument("--settle", type=int, default=600, help="most seconds to wait")
    parser.add_argument(
        "--one-worker",
        action="store_true",
        help="serve everything from one worker (WORKER_ROLE=all) instead of a drops worker "
        "and a notifications worker",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
