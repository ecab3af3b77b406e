"""Immutable worker deployments on Restate: every worker build registered at its own URL.

Registering a new build under the URL of the old one (`force: true`) makes invocations in
flight replay their journals against new code. Instead each build serves Restate under
`<worker>/v/<version>` and is registered there as a deployment of its own: new invocations
go to the newest deployment, invocations already pinned to an older one finish there, and
an older deployment is deleted only once no unfinished invocation is pinned to it.

Standard library only: fly/deploy.py runs before anything is installed and reaches the
admin API through `flyctl ssh console`, with an `Admin` of its own.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VERSION_PREFIX = "/v/"
VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Unfinished invocations per pinned deployment. Scheduled or inboxed ones are not pinned
# yet and will start on the newest deployment.
PINNED_QUERY = (
    "SELECT pinned_deployment_id AS deployment, COUNT(*) AS invocations FROM sys_invocation "
    "WHERE status != 'completed' AND pinned_deployment_id IS NOT NULL "
    "GROUP BY pinned_deployment_id"
)

# (method, path, JSON body or None) -> the parsed JSON answer; raises AdminError.
Admin = Callable[[str, str, Mapping[str, Any] | None], Any]


class AdminError(RuntimeError):
    """Restate's admin API refused a request or could not be reached."""


def versioned_uri(worker_url: str, version: str) -> str:
    if not VERSION_RE.match(version):
        raise ValueError(f"worker version {version!r}: letters, digits, '.', '_', '-' only")
    return f"{worker_url.rstrip('/')}{VERSION_PREFIX}{version}"


def split_versioned_path(path: str) -> tuple[str | None, str]:
    """`/v/<version>/rest` -> (version, `/rest`); any other path -> (None, path)."""
    if not path.startswith(VERSION_PREFIX):
        return None, path
    version, slash, rest = path[len(VERSION_PREFIX) :].partition("/")
    return version, slash + rest


@dataclass(frozen=True)
class Deployment:
    id: str
    uri: str
    services: frozenset[str]


@dataclass(frozen=True)
class Retirement:
    """What `retire_drained` did: deployments deleted, and those still draining (with their
    unfinished invocations), to be retired by a later run."""

    current: str
    retired: tuple[Deployment, ...] = ()
    draining: Mapping[str, int] = field(default_factory=dict)


def http_admin(admin_url: str, timeout: float = 10.0) -> Admin:
    base = admin_url.rstrip("/")

    def call(method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()[:500]
            raise AdminError(f"{method} {path}: HTTP {error.code}: {detail}") from error
        except OSError as error:
            raise AdminError(f"{method} {path}: {error}") from error
        return json.loads(text) if text.strip() else None

    return call


def register(admin: Admin, uri: str) -> str:
    """Register (never force) the build at `uri`; the deployment's id. Registering the same
    URI again with the same services answers the existing deployment."""
    answer = admin("POST", "/deployments", {"uri": uri})
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise AdminError(f"registering {uri}: unexpected answer {answer!r}")
    return str(answer["id"])


def deployments(admin: Admin) -> list[Deployment]:
    answer = admin("GET", "/deployments", None)
    found = []
    for entry in (answer or {}).get("deployments", []):
        services = frozenset(str(s.get("name")) for s in entry.get("services", []))
        found.append(Deployment(str(entry["id"]), str(entry.get("uri", "")), services))
    return found


def pinned(admin: Admin) -> dict[str, int]:
    """Unfinished invocations per deployment they are pinned to."""
    answer = admin("POST", "/query", {"query": PINNED_QUERY})
    rows: Sequence[Mapping[str, Any]] = (answer or {}).get("rows", [])
    return {str(row["deployment"]): int(row["invocations"]) for row in rows}


def retire_drained(admin: Admin, current: str, *together: str) -> Retirement:
    """Delete every older deployment whose services `current` (with the deployments
    registered `together` with it: one build's workers of each role) serves and to which
    no unfinished invocation is pinned. Nothing new is pinned to a superseded deployment, so
    a drained one stays drained between the query and the delete."""
    known = deployments(admin)
    by_id = {d.id: d for d in known}
    ours = {current, *together}
    for missing in sorted(ours - set(by_id)):
        raise AdminError(f"deployment {missing} is not registered")
    serving = frozenset().union(*(by_id[i].services for i in ours))
    busy = pinned(admin)
    retired: list[Deployment] = []
    draining: dict[str, int] = {}
    for old in known:
        if old.id in ours or not old.services <= serving:
            continue
        if busy.get(old.id, 0):
            draining[old.id] = busy[old.id]
            continue
        # Restate deletes only with force; the drain check above is what makes it safe.
        admin("DELETE", f"/deployments/{old.id}?force=true", None)
        retired.append(old)
    return Retirement(current=current, retired=tuple(retired), draining=draining)


def upgrade(admin: Admin, uri: str, *more: str) -> Retirement:
    """Register the build at `uri` (and its workers of other roles at `more`), then retire
    the older builds that have drained and whose services these serve between them."""
    current = register(admin, uri)
    return retire_drained(admin, current, *(register(admin, u) for u in more))
