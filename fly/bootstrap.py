#!/usr/bin/env python3
"""Bring a freshly started stack to life: register the worker with restate, seed a demo drop.

Standard library only, so it runs in a bare `python:3.11-slim` container (docker-compose's
one-shot `setup` job) as well as from `fly/deploy.py --init-drop` on an operator's laptop.

    python fly/bootstrap.py register-worker --admin-url http://restate:9070 \
        --worker-url http://worker:9080
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
from typing import Any

DEMO_PRODUCT = "Limited Edition Sneakers"
DEMO_IMAGE = "https://images.unsplash.com/photo-1542291026-7eec264c27ff?w=800"
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


def retry(
    attempt: Callable[[], tuple[int, str]], tries: int, delay: float, what: str
) -> tuple[int, str]:
    """Call `attempt` until it returns a 2xx status or `tries` run out (connection errors retry)."""
    last = "no attempt made"
    for number in range(1, tries + 1):
        try:
            status, text = attempt()
        except (OSError, urllib.error.URLError) as error:
            last = f"{what}: {error}"
        else:
            if 200 <= status < 300:
                return status, text
            last = f"{what}: HTTP {status}: {text.strip()[:500]}"
        if number < tries:
            print(f"{last} (attempt {number}/{tries}, retrying in {delay:g}s)", file=sys.stderr)
            time.sleep(delay)
    raise BootstrapError(last)


def register_worker(
    admin_url: str, worker_url: str, tries: int = 60, delay: float = 2.0
) -> dict[str, Any]:
    """Tell restate's admin API where the worker is; retries until restate answers.

    The worker speaks HTTP/2 cleartext (granian), restate's default for `http://` URIs, so
    only the URI is given. `force` lets a re-registration replace a deployment with the same URI.
    """
    body = {"uri": worker_url, "force": True}
    url = admin_url.rstrip("/") + "/deployments"
    _, text = retry(lambda: post_json(url, body), tries, delay, f"registering {worker_url}")
    answer: dict[str, Any] = json.loads(text) if text.strip() else {}
    return answer


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
    parser.add_argument("--worker-url", default=os.environ.get("WORKER_URL", ""))
    parser.add_argument("--api-url", default=os.environ.get("INTERNAL_API_URL", ""))
    parser.add_argument("--tries", type=int, default=60, help="attempts per request")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds between attempts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.action in ("register-worker", "all"):
            if not (args.admin_url and args.worker_url):
                raise BootstrapError("register-worker needs --admin-url and --worker-url")
            answer = register_worker(args.admin_url, args.worker_url, args.tries, args.delay)
            services = [s.get("name") for s in answer.get("services", []) if isinstance(s, dict)]
            print(f"registered {args.worker_url} with restate; services: {services}")
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
