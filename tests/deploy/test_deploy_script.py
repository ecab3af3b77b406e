"""fly/deploy.py against a fake flyctl first on PATH."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drop import identity

from .support import DEPLOY, FLY, SERVICES, FakeFly, load_deploy_module

PREFIX = "acme-drop"


def deploys(argvs: list[list[str]]) -> list[str]:
    """The apps deployed, in order."""
    return [argv[argv.index("--app") + 1] for argv in argvs if argv[0] == "deploy"]


def option_values(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == name]


def app_of(service: str) -> str:
    """Each worker build is an app of its own (WORKER_VERSION=b7 in the fixture)."""
    return f"{PREFIX}-worker-b7" if service == "worker" else f"{PREFIX}-{service}"


def service_of(app: str) -> str:
    return app.removeprefix(f"{PREFIX}-").removesuffix("-b7")


def registering(argv: list[str]) -> bool:
    """An ssh call that registers a deployment (the others query and retire builds)."""
    return (
        argv[:2] == ["ssh", "console"]
        and "-X POST" in " ".join(argv)
        and "/query" not in " ".join(argv)
    )


def test_first_run_creates_everything_and_deploys_in_order(fake_fly: FakeFly) -> None:
    result = fake_fly.run()
    assert result.returncode == 0, result.stderr

    argvs = fake_fly.argvs()
    assert argvs[0] == ["auth", "whoami"]
    created = [argv[2] for argv in argvs if argv[:2] == ["apps", "create"]]
    assert created == [app_of(service) for service in SERVICES]
    for argv in argvs:
        if argv[:2] == ["apps", "create"]:
            assert option_values(argv, "--org") == ["personal"]

    volumes = {
        (argv[2], argv[argv.index("--app") + 1], argv[argv.index("--size") + 1])
        for argv in argvs
        if argv[:2] == ["volumes", "create"]
    }
    assert volumes == {
        ("nats_data", f"{PREFIX}-nats", "1"),
        ("restate_data", f"{PREFIX}-restate", "10"),
    }
    for argv in argvs:
        if argv[:2] == ["volumes", "create"]:
            assert option_values(argv, "--region") == ["sjc"]

    # nats -> restate -> worker -> registrations -> api -> sse -> web
    timeline = [
        ("register:" if argv[0] == "ssh" else "") + argv[argv.index("--app") + 1]
        for argv in argvs
        if argv[0] == "deploy" or registering(argv)
    ]
    assert timeline == [
        f"{PREFIX}-nats",
        f"{PREFIX}-restate",
        f"{PREFIX}-worker-b7",
        f"register:{PREFIX}-restate",  # the drops role
        f"register:{PREFIX}-restate",  # the notifications role
        f"{PREFIX}-api",
        f"{PREFIX}-sse",
        f"{PREFIX}-web",
    ]
    # each app and volume exists before its deploy
    for service in SERVICES:
        app = app_of(service)
        create_at = argvs.index(["apps", "create", app, "--org", "personal"])
        deploy_at = next(i for i, a in enumerate(argvs) if a[0] == "deploy" and app in a)
        assert create_at < deploy_at


def test_deploy_sets_internal_urls_from_the_prefix(fake_fly: FakeFly) -> None:
    assert fake_fly.run().returncode == 0
    env: dict[str, dict[str, str]] = {}
    for argv in fake_fly.argvs():
        if argv[0] == "deploy":
            app = argv[argv.index("--app") + 1]
            env[app] = dict(item.split("=", 1) for item in option_values(argv, "--env"))
            service = service_of(app)
            assert option_values(argv, "--config") == [f"fly/{service}/fly.toml"]
            if service in ("worker", "api", "sse", "web"):
                assert option_values(argv, "--dockerfile") == ["Dockerfile"]
            else:
                assert "--dockerfile" not in argv
    nats = f"nats://{PREFIX}-nats.internal:4222"
    ingress = f"http://{PREFIX}-restate.internal:8080"
    cors = f"https://{PREFIX}-web.fly.dev"
    assert env[f"{PREFIX}-worker-b7"] == {
        "NATS_URL": nats,
        "WORKER_VERSION": "b7",
        "RESTATE_INGRESS_URL": ingress,
        "PUBLIC_URL": cors,
    }
    for service in ("api", "sse"):
        assert env[f"{PREFIX}-{service}"] == {
            "NATS_URL": nats,
            "RESTATE_INGRESS_URL": ingress,
            "CORS_ORIGINS": cors,
        }
    assert env[f"{PREFIX}-web"] == {
        "INTERNAL_API_URL": f"http://{PREFIX}-api.internal:8080",
        "INTERNAL_SSE_URL": f"http://{PREFIX}-sse.internal:8080",
    }


def test_registration_goes_through_restate_with_each_worker_roles_uri(fake_fly: FakeFly) -> None:
    assert fake_fly.run().returncode == 0
    bodies = []
    for ssh in [argv for argv in fake_fly.argvs() if registering(argv)]:
        assert option_values(ssh, "--app") == [f"{PREFIX}-restate"]
        remote = shlex.split(option_values(ssh, "--command")[0])
        assert remote[0] == "curl"
        assert "http://localhost:9070/deployments" in remote
        bodies.append(json.loads(remote[remote.index("--data") + 1]))
    # This build's own deployments, one per process group, never forced over another's.
    assert bodies == [
        {"uri": f"http://{role}.process.{PREFIX}-worker-b7.internal:8080/v/b7"}
        for role in ("drops", "notifications")
    ]


def staged(fake_fly: FakeFly) -> dict[str, dict[str, str]]:
    """The secrets each app got through `secrets import`, by service."""
    out: dict[str, dict[str, str]] = {}
    for call in fake_fly.calls():
        if call["argv"][:2] == ["secrets", "import"]:
            assert "--stage" in call["argv"]
            app = call["argv"][call["argv"].index("--app") + 1]
            lines = call["stdin"].splitlines()
            out[service_of(app)] = dict(line.split("=", 1) for line in lines)
    return out


APP_SECRETS = {"ADMIN_SECRET", "PURCHASE_TOKEN_SECRET", "IP_HASH_SALT", "RECEIPT_SIGNING_KEY"}
NATS_CLIENT = {"NATS_USER", "NATS_PASSWORD"}


def test_secrets_are_staged_through_stdin_never_argv(fake_fly: FakeFly) -> None:
    result = fake_fly.run()
    assert result.returncode == 0
    assert "warning" not in result.stderr
    got = staged(fake_fly)
    assert {name: set(values) for name, values in got.items()} == {
        "nats": {"NATS_AUTH_CONF"},
        "restate": {"RESTATE_IDENTITY_PEM"},
        "worker": APP_SECRETS | NATS_CLIENT | {"RESTATE_IDENTITY_KEYS"},
        "api": APP_SECRETS | NATS_CLIENT,
        "sse": APP_SECRETS | NATS_CLIENT,
        "web": APP_SECRETS,
    }
    for service in ("worker", "api", "sse", "web"):
        assert got[service]["ADMIN_SECRET"] == "s3cret-admin"
        assert got[service]["PURCHASE_TOKEN_SECRET"] == "s3cret-token"
        assert got[service]["IP_HASH_SALT"] == "s3cret-salt"
        assert got[service]["RECEIPT_SIGNING_KEY"] == "5e" + "c3" * 31
    password = got["api"]["NATS_PASSWORD"]
    everything = json.dumps(fake_fly.argvs()) + result.stdout + result.stderr
    assert "s3cret" not in everything and password not in everything
    assert "c3c3c3" not in everything


def test_internal_credentials_are_generated_once_and_match_everywhere(fake_fly: FakeFly) -> None:
    assert fake_fly.run().returncode == 0
    first = staged(fake_fly)
    user, password = first["worker"]["NATS_USER"], first["worker"]["NATS_PASSWORD"]
    assert len(password) >= 32
    assert first["api"]["NATS_PASSWORD"] == first["sse"]["NATS_PASSWORD"] == password
    conf = base64.b64decode(first["nats"]["NATS_AUTH_CONF"]).decode()
    assert f'user: "{user}"' in conf and f'password: "{password}"' in conf
    pem = base64.b64decode(first["restate"]["RESTATE_IDENTITY_PEM"])
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert first["worker"]["RESTATE_IDENTITY_KEYS"] == identity.public_key_of(pem)
    fake_fly.clear_log()
    assert fake_fly.run("--only", "api").returncode == 0
    assert staged(fake_fly)["api"]["NATS_PASSWORD"] == password


def test_only_one_app_without_credentials_generates_nothing(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--only", "api")
    assert result.returncode == 0
    assert "no internal credentials" in result.stderr
    assert set(staged(fake_fly)["api"]) == APP_SECRETS
    assert not Path(fake_fly.env["FLY_SECRETS_DIR"]).exists()


def test_given_internal_credentials_are_used(fake_fly: FakeFly, tmp_path: Path) -> None:
    pem_file = tmp_path / "given.pem"
    pem_file.write_bytes(identity.new_private_pem())
    result = fake_fly.run(NATS_PASSWORD="given-pass", RESTATE_IDENTITY_PEM_FILE=str(pem_file))
    assert result.returncode == 0, result.stderr
    got = staged(fake_fly)
    assert got["sse"]["NATS_PASSWORD"] == "given-pass"
    assert base64.b64decode(got["restate"]["RESTATE_IDENTITY_PEM"]) == pem_file.read_bytes()
    assert got["worker"]["RESTATE_IDENTITY_KEYS"] == identity.public_key_of(pem_file.read_bytes())


def test_missing_secrets_are_warned_about(fake_fly: FakeFly) -> None:
    result = fake_fly.run(ADMIN_SECRET="", IP_HASH_SALT="", RECEIPT_SIGNING_KEY="")
    assert result.returncode == 0
    assert "ADMIN_SECRET" in result.stderr and "IP_HASH_SALT" in result.stderr
    assert "PURCHASE_TOKEN_SECRET" not in result.stderr
    for service, values in staged(fake_fly).items():
        assert "ADMIN_SECRET" not in values and "IP_HASH_SALT" not in values
        if service in ("worker", "api", "sse", "web"):
            assert values["PURCHASE_TOKEN_SECRET"] == "s3cret-token"


def test_second_run_creates_nothing_and_redeploys(fake_fly: FakeFly) -> None:
    assert fake_fly.run().returncode == 0
    fake_fly.clear_log()
    result = fake_fly.run()
    assert result.returncode == 0, result.stderr
    argvs = fake_fly.argvs()
    assert not [a for a in argvs if a[1:2] == ["create"]]
    assert deploys(argvs) == [app_of(s) for s in SERVICES]
    assert sum(registering(a) for a in argvs) == 2


def test_only_api_touches_only_the_api_app(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--only", "api")
    assert result.returncode == 0, result.stderr
    app = f"{PREFIX}-api"
    for argv in fake_fly.argvs():
        if argv[:2] in (["auth", "whoami"], ["apps", "list"]):
            continue
        apps = option_values(argv, "--app") or argv[2:3]
        assert apps == [app], argv
    assert deploys(fake_fly.argvs()) == [app]


def test_only_worker_redeploys_and_registers_again(fake_fly: FakeFly) -> None:
    assert fake_fly.run().returncode == 0
    fake_fly.clear_log()
    assert fake_fly.run("--only", "worker").returncode == 0
    argvs = fake_fly.argvs()
    assert deploys(argvs) == [f"{PREFIX}-worker-b7"]
    remote = [shlex.split(option_values(a, "--command")[0]) for a in argvs if a[0] == "ssh"]
    # Register this build's two roles, then look for older builds and what is pinned to them.
    assert [(r[r.index("-X") + 1], r[r.index("-X") + 2]) for r in remote] == [
        ("POST", "http://localhost:9070/deployments"),
        ("POST", "http://localhost:9070/deployments"),
        ("GET", "http://localhost:9070/deployments"),
        ("GET", "http://localhost:9070/deployments"),
        ("POST", "http://localhost:9070/query"),
    ]
    assert "pinned_deployment_id" in remote[4][remote[4].index("--data") + 1]
    assert not [a for a in argvs if a[:2] == ["apps", "destroy"]]  # nothing older to retire


def test_an_upgrade_retires_only_the_drained_older_builds() -> None:
    deploy = load_deploy_module()
    calls: list[tuple[str, str]] = []
    listing = [
        {
            "id": "dp_old",
            "uri": "http://x-worker-a1.internal:8080/v/a1",
            "services": [{"name": "Drop"}],
        },
        {
            "id": "dp_busy",
            "uri": "http://x-worker-a2.internal:8080/v/a2",
            "services": [{"name": "Drop"}],
        },
        {
            "id": "dp_new",
            "uri": "http://x-worker-b7.internal:8080/v/b7",
            "services": [{"name": "Drop"}],
        },
    ]

    def admin(method: str, path: str, body: object = None) -> object:
        calls.append((method, path))
        if path == "/deployments":
            return {"deployments": listing}
        if path == "/query":
            return {"rows": [{"deployment": "dp_busy", "invocations": 2}]}
        return None

    done = deploy.deployments.retire_drained(admin, "dp_new")
    assert [d.id for d in done.retired] == ["dp_old"]
    assert done.draining == {"dp_busy": 2}
    assert ("DELETE", "/deployments/dp_old?force=true") in calls
    assert not [c for c in calls if c[0] == "DELETE" and "dp_busy" in c[1]]


def test_ha_plan_clusters_the_engines_and_doubles_api_and_sse(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--plan", "--ha")
    assert result.returncode == 0, result.stderr
    lines = [
        shlex.split(line.split("  #")[0])[1:]
        for line in result.stdout.splitlines()
        if line.startswith("flyctl ")
    ]
    volumes = [a[a.index("--app") + 1] for a in lines if a[:2] == ["volumes", "create"]]
    assert volumes.count(f"{PREFIX}-nats") == 3 and volumes.count(f"{PREFIX}-restate") == 3
    deployed = {a[a.index("--app") + 1]: a for a in lines if a[:1] == ["deploy"]}
    nats, restate = deployed[f"{PREFIX}-nats"], deployed[f"{PREFIX}-restate"]
    assert option_values(nats, "--config") == ["fly/nats/fly.ha.toml"] and "--ha=false" not in nats
    assert f"NATS_ROUTES=nats://{PREFIX}-nats.internal:6222" in option_values(nats, "--env")
    assert option_values(restate, "--config") == ["fly/restate/fly.ha.toml"]
    (addresses,) = [e.split("=", 1)[1] for e in option_values(restate, "--env")]
    assert json.loads(addresses) == [
        f"http://node{n}.process.{PREFIX}-restate.internal:5122" for n in (1, 2, 3)
    ]
    for service in ("worker", "api", "sse"):
        assert "NATS_REPLICAS=3" in option_values(deployed[app_of(service)], "--env")
    scaled = {a[a.index("--app") + 1]: a[2] for a in lines if a[:2] == ["scale", "count"]}
    assert scaled == {f"{PREFIX}-nats": "3", f"{PREFIX}-api": "2", f"{PREFIX}-sse": "2"}
    # Restate runs one process group per node; only node1 provisions the cluster.
    with (FLY / "restate" / "fly.ha.toml").open("rb") as f:
        processes = tomllib.load(f)["processes"]
    assert processes == {
        "node1": "--auto-provision true",
        "node2": "--auto-provision false",
        "node3": "--auto-provision false",
    }


def test_plan_runs_nothing_and_prints_every_command(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--plan")
    assert result.returncode == 0, result.stderr
    assert fake_fly.calls() == []
    lines = [line for line in result.stdout.splitlines() if line.startswith("flyctl ")]
    deploy_lines = [line for line in lines if line.startswith("flyctl deploy ")]
    assert [shlex.split(line)[shlex.split(line).index("--app") + 1] for line in deploy_lines] == [
        app_of(s) for s in SERVICES
    ]
    assert "retire drained worker builds" in result.stdout
    assert sum(line.startswith("flyctl apps create ") for line in lines) == 6
    assert sum(line.startswith("flyctl volumes create ") for line in lines) == 2
    assert any(line.startswith("flyctl ssh console ") for line in lines)
    assert "s3cret" not in result.stdout


def test_plan_needs_no_flyctl(fake_fly: FakeFly, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = fake_fly.run("--plan", "--only", "sse", PATH=str(empty))
    assert result.returncode == 0, result.stderr
    assert f"flyctl deploy . --config fly/sse/fly.toml --app {PREFIX}-sse" in result.stdout


def test_prefix_region_and_org_come_from_the_environment(fake_fly: FakeFly) -> None:
    result = fake_fly.run(APP_PREFIX="shop", FLY_REGION="ams", FLY_ORG="acme")
    assert result.returncode == 0, result.stderr
    argvs = fake_fly.argvs()
    assert ["apps", "create", "shop-api", "--org", "acme"] in argvs
    assert all(
        option_values(a, "--region") == ["ams"] for a in argvs if a[:2] == ["volumes", "create"]
    )


def test_default_prefix_is_the_user_name(fake_fly: FakeFly) -> None:
    env = {**fake_fly.env, "LOGNAME": "Ada.Lovelace", "USER": "Ada.Lovelace"}
    del env["APP_PREFIX"]
    result = subprocess.run(
        [sys.executable, str(DEPLOY), "--plan"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "flyctl apps create ada-lovelace-drop-nats" in result.stdout


def test_an_invalid_prefix_is_refused(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--plan", APP_PREFIX="Not A Name!")
    assert result.returncode != 0
    assert "APP_PREFIX" in result.stderr


def test_missing_flyctl_is_a_clear_error(fake_fly: FakeFly, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = fake_fly.run(PATH=str(empty))
    assert result.returncode != 0
    assert "flyctl is not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_logged_out_flyctl_is_a_clear_error(fake_fly: FakeFly) -> None:
    result = fake_fly.run(FAKE_FLY_LOGGED_OUT="1")
    assert result.returncode != 0
    assert "not logged in" in result.stderr and "flyctl auth login" in result.stderr
    assert fake_fly.argvs() == [["auth", "whoami"]]


def test_a_failing_deploy_stops_with_the_step_and_flyctls_message(fake_fly: FakeFly) -> None:
    result = fake_fly.run(FAKE_FLY_FAIL_DEPLOY=f"{PREFIX}-worker-b7")
    assert result.returncode != 0
    assert "step 'deploy worker' failed" in result.stderr
    assert f"boom in {PREFIX}-worker" in result.stderr
    assert "Traceback" not in result.stderr
    assert deploys(fake_fly.argvs()) == [
        f"{PREFIX}-nats",
        f"{PREFIX}-restate",
        f"{PREFIX}-worker-b7",
    ]
    assert not [a for a in fake_fly.argvs() if a[:2] == ["ssh", "console"]]


def test_registration_is_retried_until_restate_answers(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--retry-delay", "0", FAKE_FLY_SSH_FAILURES="3")
    assert result.returncode == 0, result.stderr
    # The first role's registration fails three times, then each role's goes through.
    assert sum(registering(a) for a in fake_fly.argvs()) == 5
    assert deploys(fake_fly.argvs())[-1] == f"{PREFIX}-web"


def test_registration_gives_up_with_restates_message(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--only", "worker", "--retry-delay", "0", FAKE_FLY_SSH_FAILURES="999")
    assert result.returncode != 0
    assert "step 'register drops worker with restate' failed" in result.stderr
    assert "Connection refused" in result.stderr


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.received.append(
            {
                "path": self.path,
                "auth": self.headers.get("authorization"),
                "body": json.loads(self.rfile.read(length)),
            }
        )
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_init_drop_creates_a_demo_drop_through_the_api(
    fake_fly: FakeFly, fake_api: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = fake_api
    result = fake_fly.run("--only", "web", "--init-drop", "--api-url", url)
    assert result.returncode == 0, result.stderr
    (request,) = received
    assert request["path"] == "/api/drops"
    assert request["auth"] == "Bearer s3cret-admin"
    body = request["body"]
    assert body["dropId"].startswith("demo-")
    assert body["registrationEnd"] > body["registrationStart"] > 1_600_000_000_000
    assert {"productName", "imageUrl", "inventory", "purchaseWindow"} <= body.keys()
    assert "created demo drop" in result.stdout


def test_init_drop_needs_the_admin_secret(fake_fly: FakeFly) -> None:
    result = fake_fly.run("--init-drop", ADMIN_SECRET="")
    assert result.returncode != 0
    assert "ADMIN_SECRET" in result.stderr
    assert fake_fly.calls() == []


def test_an_older_single_worker_build_retires_once_both_roles_serve_its_services() -> None:
    deploy = load_deploy_module()
    deleted: list[str] = []

    def listed(id_: str, uri: str, *services: str) -> dict[str, object]:
        return {"id": id_, "uri": uri, "services": [{"name": s} for s in services]}

    listing = [
        listed("dp_all", "http://x-worker-a1.internal:8080/v/a1", "Drop", "Mailer"),
        listed("dp_drops", "http://drops.process.x-worker-b7.internal:8080/v/b7", "Drop"),
        listed("dp_notes", "http://notifications.process.x-worker-b7.internal:8080/v/b7", "Mailer"),
    ]

    def admin(method: str, path: str, body: object = None) -> object:
        if method == "DELETE":
            deleted.append(path)
        if path == "/deployments":
            return {"deployments": listing}
        return {"rows": []} if path == "/query" else None

    # Neither role alone serves everything the old build did: it stays.
    assert deploy.deployments.retire_drained(admin, "dp_notes").retired == ()
    done = deploy.deployments.retire_drained(admin, "dp_drops", "dp_notes")
    assert [d.id for d in done.retired] == ["dp_all"]
    assert deleted == ["/deployments/dp_all?force=true"]


def test_a_retired_deployment_names_the_app_it_ran_on() -> None:
    deploy = load_deploy_module()
    # A process group's address (this layout) and a whole app's (single-worker builds).
    group = "http://notifications.process.x-worker-b7.internal:8080/v/b7"
    assert deploy._worker_app(group) == "x-worker-b7"
    assert deploy._worker_app("http://x-worker-a1.internal:8080/v/a1") == "x-worker-a1"
