#!/usr/bin/env python3
"""Bring a freshly started stack to life: register the worker with restate, seed a demo drop.

Standard library only, so it runs in a bare `python:3.11-slim` container (docker-compose's
one-shot `setup` job) as well as from `fly/deploy.py --init-drop` on an operator's laptop.
It registers the worker the way every deployment does (drop/deployments.py, standard library
too): the build at `<worker>/v/<version>`, never forced, then retires older builds once no
unfinished invocation is pinned to them. Compose mounts drop/deployments.py beside it, at
`<parent of this directory>/drop/deployments.py`, as it sits in the repository.

    python fly/bootstrap.py register-worker --admin-url http://restate:9070 \
        --worker-url http://worker:9080 --worker-version 7    # or WORKER_VERSION=7
    python fly/bootstrap.py seed-drop --api-url http://api:3003      # reads ADMIN_SECRET
    python fly/bootstrap.py all --admin-url ... --worker-url ... --api-url ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

# drop/deployments.py, from the repository or from where compose mounts it (a bare `drop`
# directory holding only that module is imported as a namespace package).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from drop import deployments

T = TypeVar("T")

DEMO_PRODUCT = "Limited Edition Sneakers"
# Served by the web app itself: a demo needs no outside site.
DEMO_IMAGE = "/static/img/jacket.svg"
DEMO_INVENTORY = 100
DEMO_PURCHASE_WINDOW_SECONDS = 600
DEMO_REGISTRATION_MINUTES = 30


class BootstrapError(RuntimeError):
    """A request the bootstrap depends on did not succeed."""


def post_json(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, str]:
    """POST `body` as JSON; return (status, response text). HTTP errors are returned, not raised."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")


class _Refused(Exception):
    """An attempt got an answer, but not the one wanted; worth another try."""


def keep_trying(attempt: Callable[[], T], tries: int, delay: float, what: str) -> T:
    """Call `attempt` until it returns, retrying on connection errors, refusals and
    restate's admin errors, `tries` times at most; then fail with the last error."""
    last = "no attempt made"
    for number in range(1, tries + 1):
        try:
            return attempt()
        except (OSError, _Refused, deployments.AdminError) as error:
            last = f"{what}: {error}"
        if number < tries:
            print(f"{last} (attempt {number}/{tries}, retrying in {delay:g}s)", file=sys.stderr)
            time.sleep(delay)
    raise BootstrapError(last)


def retry(
    attempt: Callable[[], tuple[int, str]], tries: int, delay: float, what: str
) -> tuple[int, str]:
    """Call `attempt` until it returns a 2xx status or `tries` run out (connection errors retry)."""

    def checked() -> tuple[int, str]:
        status, text = attempt()
        if not 200 <= status < 300:
            raise _Refused(f"HTTP {status}: {text.strip()[:500]}")
        return status, text

    return keep_trying(checked, tries, delay, what)


def register_worker(
    admin_url: str,
    worker_url: str,
    version: str,
    tries: int = 60,
    delay: float = 2.0,
    also: Sequence[str] = (),
) -> deployments.Retirement:
    """Register this worker build at `<worker_url>/v/<version>` as a deployment of its own,
    without `force`, retrying until restate and the worker answer; then retire the older
    builds whose services it serves and to which no unfinished invocation is pinned.

    The worker speaks HTTP/2 cleartext (granian), restate's default for `http://` URIs, so
    only the URI is given. Registering the same URI again answers the same deployment, so a
    rerun is harmless; a different build must come with a different version.
    """
    try:
        uris = [deployments.versioned_uri(u, version) for u in (worker_url, *also)]
    except ValueError as error:
        raise BootstrapError(str(error)) from error
    admin = deployments.http_admin(admin_url)
    what = f"registering {', '.join(uris)}"
    return keep_trying(lambda: deployments.upgrade(admin, *uris), tries, delay, what)


def demo_drop(
    now_ms: int | None = None, minutes: int = DEMO_REGISTRATION_MINUTES
) -> dict[str, Any]:
    """The body of `POST /api/drops` for a demo drop whose registration opens now."""
    start = int(time.time() * 1000) if now_ms is None else now_ms
    return {
        "dropId": f"demo-{start // 1000}",
        "productName": DEMO_PRODUCT,
        "imageUrl": DEMO_IMAGE,
        "inventory": DEMO_INVENTORY,
        "registrationStart": start,
        "registrationEnd": start + minutes * 60_000,
        "purchaseWindow": DEMO_PURCHASE_WINDOW_SECONDS,
    }


def seed_drop(
    api_url: str, admin_secret: str, tries: int = 30, delay: float = 2.0
) -> dict[str, Any]:
    """Create a demo drop through the public API, as an admin."""
    if not admin_secret:
        raise BootstrapError("ADMIN_SECRET is empty: the API only creates drops for its admin")
    body = demo_drop()
    url = api_url.rstrip("/") + "/api/drops"
    headers = {"authorization": f"Bearer {admin_secret}"}
    _, text = retry(lambda: post_json(url, body, headers), tries, delay, "creating demo drop")
    answer: dict[str, Any] = json.loads(text) if text.strip() else {}
    return {"dropId": body["dropId"], **answer}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=("register-worker", "seed-drop", "all"))
    parser.add_argument("--admin-url", default=os.environ.get("RESTATE_ADMIN_URL", ""))
    parser.add_argument(
        "--worker-url",
        action="append",
        help="where restate reaches the worker (WORKER_URL); once per role when the drop's "
        "and the notifications' workers run apart",
    )
    parser.add_argument(
        "--worker-version",
        default=os.environ.get("WORKER_VERSION", ""),
        help="the worker build's WORKER_VERSION: registered at <worker-url>/v/<version>",
    )
    parser.add_argument("--api-url", default=os.environ.get("INTERNAL_API_URL", ""))
    parser.add_argument("--tries", type=int, default=60, help="attempts per request")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds between attempts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        worker_urls = args.worker_url or [u for u in [os.environ.get("WORKER_URL", "")] if u]
        if args.action in ("register-worker", "all"):
            if not (args.admin_url and worker_urls and args.worker_version):
                raise BootstrapError(
                    "register-worker needs --admin-url, --worker-url and --worker-version "
                    "(or WORKER_VERSION)"
                )
            done = register_worker(
                args.admin_url,
                worker_urls[0],
                args.worker_version,
                args.tries,
                args.delay,
                also=worker_urls[1:],
            )
            uri = ", ".join(deployments.versioned_uri(u, args.worker_version) for u in worker_urls)
            retired = ", ".join(f"{d.id} ({d.uri})" for d in done.retired) or "none"
            draining = ", ".join(f"{d} ({n} in flight)" for d, n in done.draining.items())
            print(f"registered {uri} with restate as deployment {done.current}")
            print(f"retired older builds: {retired}; still draining: {draining or 'none'}")
        if args.action in ("seed-drop", "all"):
            if not args.api_url:
                raise BootstrapError("seed-drop needs --api-url")
            secret = os.environ.get("ADMIN_SECRET", "")
            drop = seed_drop(args.api_url, secret, args.tries, args.delay)
            print(f"created demo drop {drop['dropId']}")
    except BootstrapError as error:
        print(f"bootstrap failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
