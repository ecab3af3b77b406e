"""Helpers for the deployment tests: the repository's paths and a fake `flyctl`."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FLY = ROOT / "fly"
DEPLOY = FLY / "deploy.py"
SERVICES = ("nats", "restate", "worker", "api", "sse", "web")
BUILT = ("worker", "api", "sse", "web")

# A stand-in for flyctl: records each call (argv and stdin) as a JSON line, keeps the apps
# and volumes it "created" in a state file, and answers the few commands deploy.py uses the
# way flyctl does (JSON listings, exit codes, messages on stderr).
FAKE_FLYCTL = r"""
import json, os, sys

log_path, state_path = os.environ["FAKE_FLY_LOG"], os.environ["FAKE_FLY_STATE"]
args = sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(log_path, "a") as log:
    log.write(json.dumps({"argv": args, "stdin": stdin}) + "\n")
try:
    with open(state_path) as f:
        state = json.load(f)
except FileNotFoundError:
    state = {"apps": [], "volumes": {}, "ssh_calls": 0}


def save():
    with open(state_path, "w") as f:
        json.dump(state, f)


def option(name):
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def fail(message, code=1):
    sys.stderr.write(message + "\n")
    sys.exit(code)


app = option("--app") or option("-a")
if args[:1] == ["version"]:
    print("flyctl v0.3.999 (fake)")
elif args[:2] == ["auth", "whoami"]:
    if os.environ.get("FAKE_FLY_LOGGED_OUT"):
        fail("Error: No access token available. Please login with 'flyctl auth login'")
    print("operator@example.com")
elif args[:2] == ["apps", "list"]:
    print(json.dumps([{"Name": name, "Status": "deployed"} for name in state["apps"]]))
elif args[:2] == ["apps", "create"]:
    name = args[2]
    if name in state["apps"]:
        fail(f"Error: Name has already been taken: {name}")
    state["apps"].append(name)
    save()
    print(f"New app created: {name}")
elif args[:2] == ["volumes", "list"]:
    if app not in state["apps"]:
        fail(f"Error: Could not find App {app!r}")
    print(json.dumps([{"id": "vol_1", "name": v} for v in state["volumes"].get(app, [])]))
elif args[:2] == ["volumes", "create"]:
    if app not in state["apps"]:
        fail(f"Error: Could not find App {app!r}")
    state["volumes"].setdefault(app, []).append(args[2])
    save()
    print(f"Created volume {args[2]} on {app}")
elif args[:2] == ["secrets", "import"]:
    print(f"Secrets are staged for the next deployment of {app}")
elif args[:1] == ["deploy"]:
    if app not in state["apps"]:
        fail(f"Error: Could not find App {app!r}")
    if app == os.environ.get("FAKE_FLY_FAIL_DEPLOY"):
        print("==> Building image")
        fail(f"Error: failed to fetch an image or build from source: boom in {app}")
    print(f"Visit your newly deployed app at https://{app}.fly.dev/")
elif args[:2] == ["ssh", "console"]:
    state["ssh_calls"] += 1
    save()
    if state["ssh_calls"] <= int(os.environ.get("FAKE_FLY_SSH_FAILURES", "0")):
        fail("curl: (7) Failed to connect to localhost port 9070: Connection refused", 7)
    command = option("--command") or ""
    if "/query" in command:
        print(json.dumps({"rows": []}))
    elif "-X GET" in command:
        known = [
            {"id": f"dp_{n}", "uri": uri, "services": []}
            for n, uri in enumerate(state.get("registered", []), 1)
        ]
        print(json.dumps({"deployments": known}))
    else:
        uri = json.loads(command.split("--data ", 1)[1].strip("'"))["uri"]
        registered = state.setdefault("registered", [])
        if uri not in registered:
            registered.append(uri)
        save()
        print(json.dumps({"id": f"dp_{registered.index(uri) + 1}", "services": [{"name": "Drop"}]}))
else:
    fail(f"Error: unknown command {args!r}")
"""


@dataclass
class FakeFly:
    """A fake flyctl installed first on PATH, and how to run deploy.py against it."""

    bin_dir: Path
    log: Path
    state: Path
    env: dict[str, str]

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra_env}
        return subprocess.run(
            [sys.executable, str(DEPLOY), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def clear_log(self) -> None:
        self.log.unlink(missing_ok=True)


def settings_env_names() -> set[str]:
    """Every environment variable the apps' settings classes read (upper-cased field names)."""
    from pydantic_settings import BaseSettings

    import drop.settings

    names: set[str] = set()
    for value in vars(drop.settings).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value is not BaseSettings
        ):
            names |= {field.upper() for field in value.model_fields}
    return names


def load_deploy_module() -> Any:
    """fly/deploy.py as a module (it imports its sibling fly/bootstrap.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fly_deploy", DEPLOY)
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the root Dockerfile, continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        instruction, _, rest = (pending + line).partition(" ")
        out.append((instruction.upper(), rest.strip()))
        pending = ""
    return out


def exec_form(arguments: str) -> list[str]:
    """The JSON array of a CMD / HEALTHCHECK ... CMD instruction."""
    text = arguments[arguments.index("[") :]
    parsed = json.loads(text)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)
    return parsed
