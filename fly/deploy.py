#!/usr/bin/env python3
"""Deploy Product Drop to Fly.io: six apps, two volumes, one registration, in order.

Standard library only, so it runs before anything is installed:

    python fly/deploy.py                 # create what is missing, deploy everything
    python fly/deploy.py --only api      # redeploy one service
    python fly/deploy.py --plan          # print every flyctl command, run none
    python fly/deploy.py --init-drop     # ... then create a demo drop through the API

Environment: APP_PREFIX (default `<user>-drop`), FLY_REGION (sjc), FLY_ORG (personal), and
the secrets ADMIN_SECRET, PURCHASE_TOKEN_SECRET, IP_HASH_SALT, RECEIPT_SIGNING_KEY (set on the
apps when given).
The internal credentials (NATS_USER/NATS_PASSWORD, and the request-identity key pair
restate-server signs worker calls with) come from NATS_PASSWORD and
RESTATE_IDENTITY_PEM_FILE when given, else from FLY_SECRETS_DIR (default
`.fly-secrets/<prefix>/`), where a full deploy generates them the first time.
Every flyctl call is an argument list; a failing step stops the run with its name and
flyctl's own message. See fly/README.md.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import getpass
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FLY_DIR = Path(__file__).resolve().parent
ROOT = FLY_DIR.parent
sys.path.insert(0, str(FLY_DIR))

sys.path.insert(1, str(ROOT))

import bootstrap  # noqa: E402  (fly/bootstrap.py, also standard library only)
import identity  # noqa: E402  (fly/identity.py, also standard library only)

from drop import deployments  # noqa: E402  (standard library only too)

FLYCTL = "flyctl"
SERVICES = ("nats", "restate", "worker", "api", "sse", "web")
BUILT = frozenset({"worker", "api", "sse", "web"})  # the apps built from our Dockerfile
STATEFUL = frozenset({"nats", "restate"})  # one machine each, pinned to its volume
VOLUMES: Mapping[str, tuple[str, int]] = {"nats": ("nats_data", 1), "restate": ("restate_data", 10)}
SECRETS = ("ADMIN_SECRET", "PURCHASE_TOKEN_SECRET", "IP_HASH_SALT", "RECEIPT_SIGNING_KEY")
NATS_CREDENTIALS = ("NATS_USER", "NATS_PASSWORD")
# Internal secrets are staged where they are used, and only there: nats and restate read
# theirs as files (`[[files]] secret_name` in their fly.toml, base64 as Fly expects).
APP_SECRETS: Mapping[str, tuple[str, ...]] = {
    "nats": ("NATS_AUTH_CONF",),
    "restate": ("RESTATE_IDENTITY_PEM",),
    "worker": (*SECRETS, *NATS_CREDENTIALS, "RESTATE_IDENTITY_KEYS"),
    "api": (*SECRETS, *NATS_CREDENTIALS),
    "sse": (*SECRETS, *NATS_CREDENTIALS),
    "web": SECRETS,
}
INTERNAL = ("NATS_AUTH_CONF", "RESTATE_IDENTITY_PEM", *NATS_CREDENTIALS, "RESTATE_IDENTITY_KEYS")
PRIVATE_PORT = 8080  # worker, api and sse listen here on Fly; restate's ingress too
RESTATE_ADMIN_PORT = 9070
NATS_PORT = 4222
REGISTER_ATTEMPTS = 30
PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
VERSION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
# --ha: clustered engines (fly/<engine>/fly.ha.toml), api and sse on two machines each.
# The worker app's process groups (fly/worker/fly.toml), each its own restate deployment:
# the drop's handlers, and mail and webhooks, so a burst of mail never queues the draw.
WORKER_ROLES = ("drops", "notifications")
HA_COUNTS: Mapping[str, int] = {"nats": 3, "restate": 3, "api": 2, "sse": 2}
RESTATE_NODES = ("node1", "node2", "node3")
NATS_ROUTE_PORT = 6222
RESTATE_NODE_PORT = 5122


class DeployError(Exception):
    """A step failed; the message names the step and carries flyctl's words."""


@dataclass(frozen=True)
class Config:
    prefix: str
    region: str = "sjc"
    org: str = "personal"
    secrets: Mapping[str, str] = field(default_factory=dict)
    api_url: str = ""
    # Each worker build is an app of its own, <prefix>-worker-<version>, registered with
    # restate as its own deployment, so invocations begun on a build finish on it.
    worker_version: str = "1"
    ha: bool = False

    def app(self, service: str) -> str:
        if service == "worker":
            return f"{self.prefix}-worker-{self.worker_version}"
        return f"{self.prefix}-{service}"

    def worker_uri(self, role: str) -> str:
        """Where restate reaches this build's worker of `role` (a process group of its app:
        fly/worker/fly.toml), registered as a deployment of its own."""
        base = f"http://{role}.process.{self.app('worker')}.internal:{PRIVATE_PORT}"
        return deployments.versioned_uri(base, self.worker_version)

    def internal(self, service: str, port: int, scheme: str = "http") -> str:
        return f"{scheme}://{self.app(service)}.internal:{port}"

    @property
    def public_api_url(self) -> str:
        return self.api_url or f"https://{self.app('api')}.fly.dev"

    def env_for(self, service: str) -> dict[str, str]:
        """The prefix-dependent variables each app gets at deploy time (`--env`)."""
        nats = self.internal("nats", NATS_PORT, scheme="nats")
        ingress = self.internal("restate", PRIVATE_PORT)
        cors = f"https://{self.app('web')}.fly.dev"
        table: dict[str, dict[str, str]] = {
            "worker": {
                "NATS_URL": nats,
                "WORKER_VERSION": self.worker_version,
                # The webhook feed sends deliveries through Restate; payloads link the site.
                "RESTATE_INGRESS_URL": ingress,
                "PUBLIC_URL": cors,
            },
            "api": {"NATS_URL": nats, "RESTATE_INGRESS_URL": ingress, "CORS_ORIGINS": cors},
            "sse": {"NATS_URL": nats, "RESTATE_INGRESS_URL": ingress, "CORS_ORIGINS": cors},
            "web": {
                "INTERNAL_API_URL": self.internal("api", PRIVATE_PORT),
                "INTERNAL_SSE_URL": self.internal("sse", PRIVATE_PORT),
            },
        }
        env = table.get(service, {})
        if self.ha and service in ("worker", "api", "sse"):
            env["NATS_REPLICAS"] = str(HA_COUNTS["nats"])
        if self.ha and service == "nats":
            env["NATS_ROUTES"] = self.internal("nats", NATS_ROUTE_PORT, scheme="nats")
        if self.ha and service == "restate":
            app = self.app("restate")
            nodes = [
                f"http://{n}.process.{app}.internal:{RESTATE_NODE_PORT}" for n in RESTATE_NODES
            ]
            env["RESTATE_METADATA_CLIENT__ADDRESSES"] = json.dumps(nodes, separators=(",", ":"))
        return env


@dataclass(frozen=True)
class Existing:
    """What Fly already has: app names, and volume names per app."""

    apps: frozenset[str] = frozenset()
    volumes: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One thing to do: a flyctl command (argv) or, for `action`, a local Python call."""

    name: str
    argv: tuple[str, ...] = ()
    stdin: str | None = None
    shown_stdin: str = ""
    attempts: int = 1
    note: str = ""
    action: Callable[[], str] | None = None

    def render(self) -> str:
        if self.action is not None:
            return self.note
        text = shlex.join(self.argv)
        if self.shown_stdin:
            text += f"  <<< {self.shown_stdin}"
        return f"{text}  # {self.note}" if self.note else text


# --- building the plan -------------------------------------------------------------------


def create_steps(cfg: Config, service: str, existing: Existing | None) -> list[Step]:
    """Create the app and its volume, only when missing (`existing=None`: not known, print)."""
    steps: list[Step] = []
    app = cfg.app(service)
    note = "only if missing" if existing is None else ""
    if existing is None or app not in existing.apps:
        create = (FLYCTL, "apps", "create", app, "--org", cfg.org)
        steps.append(Step(f"create app {app}", create, note=note))
    if service in VOLUMES:
        volume, size = VOLUMES[service]
        have = frozenset() if existing is None else existing.volumes.get(app, frozenset())
        if existing is None or volume not in have:
            argv = (
                *(FLYCTL, "volumes", "create", volume, "--app", app),
                *("--region", cfg.region, "--size", str(size), "--yes"),
            )
            # --ha: one volume per machine (Fly attaches each to one machine).
            for n in range(1, (HA_COUNTS[service] if cfg.ha else 1) + 1):
                suffix = f" ({n}/{HA_COUNTS[service]})" if cfg.ha else ""
                steps.append(Step(f"create volume {volume} on {app}{suffix}", argv, note=note))
    return steps


def secret_step(cfg: Config, service: str) -> list[Step]:
    """Stage the app's secrets we hold; values go through stdin, never argv."""
    given = {name: cfg.secrets[name] for name in APP_SECRETS[service] if cfg.secrets.get(name)}
    if not given:
        return []
    app = cfg.app(service)
    lines = "".join(f"{name}={value}\n" for name, value in given.items())
    shown = ", ".join(f"{name}=***" for name in given)
    argv = (FLYCTL, "secrets", "import", "--app", app, "--stage")
    return [Step(f"set secrets on {app}", argv, stdin=lines, shown_stdin=shown)]


def deploy_step(cfg: Config, service: str) -> Step:
    app = cfg.app(service)
    clustered = cfg.ha and service in STATEFUL
    config = f"fly/{service}/fly.ha.toml" if clustered else f"fly/{service}/fly.toml"
    argv: tuple[str, ...] = (FLYCTL, "deploy", ".", "--config", config, "--app", app)
    if service in BUILT:
        # The one Dockerfile; which app it builds (APP) is in the fly.toml's [build.args].
        argv += ("--dockerfile", "Dockerfile")
    if service in STATEFUL and not clustered:
        argv += ("--ha=false",)
    argv += ("--remote-only", "--yes")
    for name, value in cfg.env_for(service).items():
        argv += ("--env", f"{name}={value}")
    return Step(f"deploy {service}", argv)


def scale_step(cfg: Config, service: str) -> list[Step]:
    """--ha: nats and api/sse to their machine counts (restate has a process group per node)."""
    if not cfg.ha or service not in HA_COUNTS or service == "restate":
        return []
    count = str(HA_COUNTS[service])
    argv = (FLYCTL, "scale", "count", count, "--app", cfg.app(service), "--yes")
    return [Step(f"scale {service} to {count} machines", argv)]


def ssh_admin(cfg: Config) -> deployments.Admin:
    """Restate's admin API, reached from its own machine over `flyctl ssh console`."""

    def call(method: str, path: str, body: Mapping[str, object] | None = None) -> object:
        curl = ["curl", "--silent", "--show-error", "--fail-with-body", "--max-time", "20"]
        curl += ["-X", method, f"http://localhost:{RESTATE_ADMIN_PORT}{path}"]
        curl += ["-H", "accept:application/json"]
        if body is not None:
            curl += ["-H", "content-type:application/json", "--data", json.dumps(body)]
        argv = [FLYCTL, "ssh", "console", "--app", cfg.app("restate"), "--command"]
        result = subprocess.run(
            [*argv, shlex.join(curl)], stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise deployments.AdminError((result.stderr or result.stdout).strip())
        text = result.stdout.strip()
        return json.loads(text) if text else None

    return call


def _worker_app(uri: str) -> str:
    """http://[<role>.process.]<app>.internal:8080/v/<version> -> <app>"""
    return uri.split("//", 1)[-1].split(".internal", 1)[0].rsplit(".", 1)[-1]


def retire_step(cfg: Config) -> Step:
    """Delete the older worker builds no invocation is pinned to, and destroy their apps."""

    def retire() -> str:
        admin = ssh_admin(cfg)
        try:
            known = deployments.deployments(admin)
            ids = {d.uri: d.id for d in known}
            uris = [cfg.worker_uri(role) for role in WORKER_ROLES]
            for uri in uris:
                if uri not in ids:
                    raise deployments.AdminError(f"{uri} is not registered")
            done = deployments.retire_drained(admin, *(ids[uri] for uri in uris))
        except deployments.AdminError as error:
            raise DeployError(f"step 'retire drained worker builds' failed: {error}") from error
        gone = {d.id for d in done.retired}
        # An app of an older build goes once none of its roles' deployments is left.
        kept = {_worker_app(d.uri) for d in known if d.id not in gone}
        for host in sorted({_worker_app(d.uri) for d in done.retired} - kept):
            if host.startswith(f"{cfg.prefix}-worker-") and host != cfg.app("worker"):
                execute(Step(f"destroy {host}", (FLYCTL, "apps", "destroy", host, "--yes")), 0)
        waiting = ", ".join(f"{d} ({n} in flight)" for d, n in done.draining.items())
        return f"retired {len(done.retired)}; still draining: {waiting or 'none'}"

    note = (
        "retire drained worker builds: DELETE /deployments/{id} for each older build with no "
        "unfinished invocation pinned (POST /query on sys_invocation), then "
        f"`flyctl apps destroy {cfg.prefix}-worker-<old>`; builds still draining are retired "
        "by a later run"
    )
    return Step("retire drained worker builds", note=note, action=retire)


def register_steps(cfg: Config) -> list[Step]:
    """Register this worker build with restate's admin API, which is private: ask restate's
    machine to call its own admin port over `flyctl ssh console`. One deployment per role
    (process group), each retried until restate answers. Never `force`: a build's
    deployment is immutable (drop/deployments.py)."""
    steps = []
    for role in WORKER_ROLES:
        body = json.dumps({"uri": cfg.worker_uri(role)}, separators=(",", ":"))
        curl = ["curl", "--silent", "--show-error", "--fail-with-body", "--max-time", "20"]
        curl += ["-X", "POST", f"http://localhost:{RESTATE_ADMIN_PORT}/deployments"]
        curl += ["-H", "content-type:application/json", "--data", body]
        command = shlex.join(curl)
        argv = (FLYCTL, "ssh", "console", "--app", cfg.app("restate"), "--command", command)
        steps.append(Step(f"register {role} worker with restate", argv, attempts=REGISTER_ATTEMPTS))
    return steps


def init_drop_step(cfg: Config) -> Step:
    url = cfg.public_api_url

    def create() -> str:
        try:
            drop = bootstrap.seed_drop(url, cfg.secrets.get("ADMIN_SECRET", ""), tries=5)
        except bootstrap.BootstrapError as error:
            raise DeployError(f"step 'create demo drop' failed: {error}") from error
        return f"created demo drop {drop['dropId']}"

    note = f"POST {url}/api/drops  (Authorization: Bearer $ADMIN_SECRET, a demo drop)"
    return Step("create demo drop", note=note, action=create)


def build_plan(
    cfg: Config, services: Sequence[str], existing: Existing | None, init_drop: bool = False
) -> list[Step]:
    """Every step, in order: nats, restate, worker, registration, api, sse, web."""
    steps: list[Step] = []
    for service in SERVICES:
        if service not in services:
            continue
        steps += create_steps(cfg, service, existing)
        steps += secret_step(cfg, service)
        steps.append(deploy_step(cfg, service))
        steps += scale_step(cfg, service)
        if service == "worker":
            steps += [*register_steps(cfg), retire_step(cfg)]
    if init_drop:
        steps.append(init_drop_step(cfg))
    return steps


# --- talking to flyctl ---------------------------------------------------------------------


def check_flyctl() -> None:
    if shutil.which(FLYCTL) is None:
        raise DeployError(
            "flyctl is not installed (or not on PATH). Install it with "
            "`curl -L https://fly.io/install.sh | sh`, then run `flyctl auth login`."
        )
    argv = [FLYCTL, "auth", "whoami"]
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise DeployError(
            f"flyctl is not logged in ({message or 'no account'}). Run `flyctl auth login`."
        )
    print(f"==> flyctl logged in as {result.stdout.strip()}")


def query_json(name: str, argv: Sequence[str]) -> object:
    result = subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode != 0:
        raise DeployError(f"step '{name}' failed: {(result.stderr or result.stdout).strip()}")
    try:
        parsed: object = json.loads(result.stdout or "[]")
    except json.JSONDecodeError as error:
        raise DeployError(f"step '{name}': flyctl did not answer JSON ({error})") from error
    return parsed


def names_in(listing: object) -> frozenset[str]:
    """`Name`/`name` of each entry of a flyctl `--json` listing."""
    if not isinstance(listing, list):
        return frozenset()
    names = set()
    for entry in listing:
        if isinstance(entry, dict):
            name = entry.get("Name", entry.get("name"))
            if isinstance(name, str):
                names.add(name)
    return frozenset(names)


def discover(cfg: Config, services: Sequence[str]) -> Existing:
    apps = names_in(query_json("list apps", [FLYCTL, "apps", "list", "--json"]))
    volumes: dict[str, frozenset[str]] = {}
    for service in services:
        app = cfg.app(service)
        if service in VOLUMES and app in apps:
            argv = [FLYCTL, "volumes", "list", "--app", app, "--json"]
            volumes[app] = names_in(query_json(f"list volumes of {app}", argv))
    return Existing(apps=apps, volumes=volumes)


def run_command(argv: Sequence[str], stdin: str | None) -> tuple[int, str]:
    """Run, echoing flyctl's output as it comes; return the exit code and the output's tail."""
    tail: deque[str] = deque(maxlen=25)
    with subprocess.Popen(
        list(argv),
        cwd=ROOT,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        if stdin is not None and process.stdin is not None:
            process.stdin.write(stdin)
            process.stdin.close()
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(f"    {line}")
            tail.append(line.rstrip())
    sys.stdout.flush()
    return process.returncode, "\n".join(line for line in tail if line)


def execute(step: Step, retry_delay: float) -> None:
    print(f"==> {step.name}\n    $ {step.render()}", flush=True)
    if step.action is not None:
        print(f"    {step.action()}")
        return
    for attempt in range(1, step.attempts + 1):
        code, output = run_command(step.argv, step.stdin)
        if code == 0:
            return
        if attempt < step.attempts:
            print(f"    (attempt {attempt}/{step.attempts} failed; retrying in {retry_delay:g}s)")
            time.sleep(retry_delay)
            continue
        raise DeployError(f"step '{step.name}' failed (flyctl exit {code}):\n{output}")


# --- the command line ----------------------------------------------------------------------


def default_prefix() -> str:
    user = re.sub(r"[^a-z0-9-]+", "-", getpass.getuser().lower()).strip("-") or "me"
    return f"{user}-drop"


def default_worker_version() -> str:
    """The commit being deployed, else 1: each commit's worker is a build of its own."""
    result = subprocess.run(
        ["git", "rev-parse", "--short=8", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip().lower() if result.returncode == 0 else "1"


def config_from_env(env: Mapping[str, str], api_url: str = "", ha: bool = False) -> Config:
    version = env.get("WORKER_VERSION") or default_worker_version()
    if not VERSION_RE.match(version):
        raise DeployError(f"WORKER_VERSION {version!r}: lowercase letters, digits, dashes")
    prefix = env.get("APP_PREFIX") or default_prefix()
    if not PREFIX_RE.match(prefix):
        raise DeployError(
            f"APP_PREFIX {prefix!r} is not a valid Fly app name prefix "
            "(lowercase letters, digits and dashes)"
        )
    return Config(
        prefix=prefix,
        region=env.get("FLY_REGION") or "sjc",
        org=env.get("FLY_ORG") or "personal",
        secrets={name: env[name] for name in SECRETS if env.get(name)},
        api_url=api_url,
        worker_version=version,
        ha=ha,
    )


def internal_secrets(
    env: Mapping[str, str], store: Path, generate: bool, placeholder: str = ""
) -> dict[str, str]:
    """NATS credentials and the request-identity pair: given, kept in `store`, or (when
    `generate`) made and kept there, so a later `--only` run stages the same ones. Without
    any of them, each value is `placeholder` (empty: left out)."""
    password_file = store / "nats-password"
    password = env.get("NATS_PASSWORD", "")
    if not password and password_file.exists():
        password = password_file.read_text().strip()
    pem = ""
    if env.get("RESTATE_IDENTITY_PEM_FILE"):
        pem = Path(env["RESTATE_IDENTITY_PEM_FILE"]).read_text()
    elif (store / identity.PEM_NAME).exists() or generate:
        pem = identity.ensure_pair(store)[0].read_text()
    if not password and generate:
        password = secrets.token_urlsafe(32)
        store.mkdir(parents=True, exist_ok=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    if not (password and pem):
        return dict.fromkeys(INTERNAL, placeholder) if placeholder else {}
    user = env.get("NATS_USER") or "drop"
    conf = f"authorization {{ user: {json.dumps(user)}, password: {json.dumps(password)} }}\n"
    return {
        "NATS_USER": user,
        "NATS_PASSWORD": password,
        "NATS_AUTH_CONF": base64.b64encode(conf.encode()).decode(),
        "RESTATE_IDENTITY_PEM": base64.b64encode(pem.encode()).decode(),
        "RESTATE_IDENTITY_KEYS": identity.public_key_of(pem),
    }


def secrets_store(env: Mapping[str, str], prefix: str) -> Path:
    return Path(env.get("FLY_SECRETS_DIR") or ROOT / ".fly-secrets" / prefix)


def warn_missing_secrets(cfg: Config) -> None:
    if "NATS_PASSWORD" not in cfg.secrets:
        print(
            "warning: no internal credentials (NATS_PASSWORD, RESTATE_IDENTITY_PEM_FILE, or "
            f"{secrets_store(os.environ, cfg.prefix)}): a full deploy generates them; with "
            "--only they are left as they are on Fly.",
            file=sys.stderr,
        )
    for name in SECRETS:
        if name not in cfg.secrets:
            print(
                f"warning: {name} is not set here. The apps run with DROP_ENV=production and "
                f"refuse to start without it, unless it is already a Fly secret "
                f"(`flyctl secrets list --app {cfg.app('api')}`).",
                file=sys.stderr,
            )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fly/deploy.py", description="Deploy Product Drop to Fly.io (see fly/README.md)."
    )
    parser.add_argument(
        "--only",
        choices=SERVICES,
        metavar="SERVICE",
        help=f"redeploy one service: {', '.join(SERVICES)}",
    )
    parser.add_argument(
        "--plan", action="store_true", help="print every flyctl command without running any"
    )
    parser.add_argument(
        "--ha",
        action="store_true",
        help="clustered engines: 3 nats, 3 restate nodes; api and sse on 2 machines each",
    )
    parser.add_argument(
        "--init-drop",
        action="store_true",
        help="after deploying, create a demo drop through the public API",
    )
    parser.add_argument(
        "--api-url",
        default="",
        help="API base URL for --init-drop (default https://<prefix>-api.fly.dev)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=5.0,
        help="seconds between attempts to register the worker (default 5)",
    )
    return parser.parse_args(argv)


def with_internal_secrets(cfg: Config, plan: bool, full: bool) -> Config:
    store = secrets_store(os.environ, cfg.prefix)
    placeholder = "<generated>" if plan and full else ""
    found = internal_secrets(os.environ, store, generate=full and not plan, placeholder=placeholder)
    return dataclasses.replace(cfg, secrets={**cfg.secrets, **found})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    services = [args.only] if args.only else list(SERVICES)
    try:
        cfg = config_from_env(os.environ, args.api_url, args.ha)
        print(f"==> apps {cfg.app('*')} in region {cfg.region}, organization {cfg.org}")
        cfg = with_internal_secrets(cfg, args.plan, full=not args.only)
        warn_missing_secrets(cfg)
        if args.plan:
            for step in build_plan(cfg, services, None, args.init_drop):
                print(step.render())
            return 0
        if args.init_drop and "ADMIN_SECRET" not in cfg.secrets:
            raise DeployError("--init-drop needs ADMIN_SECRET in the environment")
        check_flyctl()
        plan = build_plan(cfg, services, discover(cfg, services), args.init_drop)
        for step in plan:
            execute(step, args.retry_delay)
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"==> done: https://{cfg.app('web')}.fly.dev")
    return 0


if __name__ == "__main__":
    sys.exit(main())
