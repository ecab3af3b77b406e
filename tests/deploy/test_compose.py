"""docker-compose.yml: valid Compose, and wired to the apps' real settings."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import yaml

from devtools import devbeacon, devstack
from drop.domain.beacon import UNCHAINED
from drop.settings import BeaconSettings, ConnectionSettings

from .support import BUILT, FLY, ROOT, load_deploy_module, settings_env_names

RESTATE_OWN = {
    "RESTATE_NODE_NAME",
    "RESTATE_BASE_DIR",
    "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE",
    "RESTATE_DEFAULT_NUM_PARTITIONS",
}
ONE_SHOT = ("setup", "keys", "cluster-setup")


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def local_ports() -> dict[str, int]:
    """The apps' default local ports, as drop.settings knows them (plus web's 3000)."""
    defaults = ConnectionSettings.model_fields

    def port(field: str) -> int:
        value = urlparse(str(defaults[field].default)).port
        assert value is not None
        return value

    return {
        "worker": port("worker_url"),
        "api": port("internal_api_url"),
        "sse": port("internal_sse_url"),
        "web": 3000,
    }


def test_compose_file_follows_the_compose_specification() -> None:
    # check-jsonschema vendors the Compose specification's JSON schema.
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors


def default_services() -> set[str]:
    """What a plain `docker compose up` starts: the services of no profile."""
    return {name for name, svc in compose()["services"].items() if not svc.get("profiles")}


def test_the_whole_stack_is_there() -> None:
    assert default_services() == {
        *("nats", "restate", "beacon", *BUILT, "notifications", "setup", "keys")
    }
    used = {
        mount.split(":")[0]
        for name in default_services()
        for mount in service(name).get("volumes", [])
        if not mount.startswith(".")
    }
    assert used == {"nats_data", "restate_data", "identity"}
    # Every named volume is one the default stack uses: a plain `up` creates no other
    # (the cluster profile's nodes keep anonymous volumes, created with their containers).
    assert set(compose()["volumes"]) == used


# What Compose v1.29 (Debian 12's docker-compose) accepts at the top level; it refuses
# `name:` ("'name' does not match any of the regexes: '^x-'"), which v2 added.
V1_29_TOP_LEVEL = {"version", "services", "networks", "volumes", "secrets", "configs"}


def test_compose_v1_29_accepts_the_top_level() -> None:
    for path in (ROOT / "docker-compose.yml", ROOT / "compose" / "drand.yml"):
        loaded = yaml.safe_load(path.read_text())
        extra = {k for k in loaded if k not in V1_29_TOP_LEVEL and not k.startswith("x-")}
        assert not extra, f"{path.name}: Compose v1.29 refuses {extra}"


def test_the_worker_draws_with_the_local_test_beacon_by_default() -> None:
    beacon = service("beacon")
    command = beacon["command"]
    assert command[:3] == ["python", "-m", "devtools.devbeacon"]
    chain = devbeacon.dev_chain(
        int(option(command, "--genesis")),
        int(option(command, "--period")),
        option(command, "--scheme"),
    )
    # Unchained: the beacon signs any round at once, however long since genesis.
    assert chain.scheme == UNCHAINED
    url = f"http://beacon:{option(command, '--port')}"
    expected = devbeacon.settings_env(chain, url, max_wait_s=30, retry_s=1)
    for name in ("worker", "cluster-worker"):
        env = service(name)["environment"]
        for variable, value in expected.items():
            number = variable.endswith("_SECONDS")
            found = float(env[variable]) if number else env[variable]
            assert found == (float(value) if number else value), (name, variable)
        assert service(name)["depends_on"]["beacon"] == {"condition": "service_healthy"}
    assert "localhost:8090/info" in " ".join(beacon["healthcheck"]["test"])
    assert beacon["build"] == service("worker")["build"]  # the worker image holds the beacon


def test_compose_drand_yml_switches_the_worker_to_drand_mainnet() -> None:
    loaded = yaml.safe_load((ROOT / "compose" / "drand.yml").read_text())
    defaults = BeaconSettings(_env_file=None)  # type: ignore[call-arg]
    for name in ("worker", "cluster-worker"):
        env = loaded["services"][name]["environment"]
        assert env["BEACON_CHAIN_HASH"] == defaults.beacon_chain_hash
        assert env["BEACON_PUBLIC_KEY"] == defaults.beacon_public_key
        assert int(env["BEACON_GENESIS"]) == defaults.beacon_genesis
        assert int(env["BEACON_PERIOD"]) == defaults.beacon_period
        assert env["BEACON_SCHEME"] == defaults.beacon_scheme
        assert env["BEACON_URLS"] == f"${{BEACON_URLS:-{defaults.beacon_urls}}}"
        assert set(env) <= settings_env_names()


def test_the_demo_drop_shows_an_image_the_web_app_serves() -> None:
    image = load_deploy_module().bootstrap.DEMO_IMAGE  # deploy.py imports its sibling
    assert image.startswith("/static/"), image
    assert (ROOT / "apps" / "web" / image.lstrip("/")).is_file()


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_apps_are_built_from_the_one_dockerfile_on_their_local_ports() -> None:
    ports = local_ports()
    for name in BUILT:
        svc = service(name)
        build = svc["build"]
        assert (build["context"], build["dockerfile"]) == (".", "Dockerfile")
        assert build["args"]["APP"] == name
        env = svc["environment"]
        assert int(env["PORT"]) == ports[name]
        assert env["HOST"] == "0.0.0.0"
        assert f"localhost:{ports[name]}/health" in " ".join(svc["healthcheck"]["test"])
        unknown = set(env) - settings_env_names()
        assert not unknown, f"{name}: not read by drop.settings: {unknown}"
    assert "3000:3000" in service("web")["ports"]


def test_internal_addresses_point_at_the_right_services_and_ports() -> None:
    ports = local_ports()
    env = service("api")["environment"]
    expected = {
        "NATS_URL": ("nats", 4222),
        "RESTATE_INGRESS_URL": ("restate", 8080),
        "RESTATE_ADMIN_URL": ("restate", 9070),
        "INTERNAL_API_URL": ("api", ports["api"]),
        "INTERNAL_SSE_URL": ("sse", ports["sse"]),
    }
    for variable, (host, port) in expected.items():
        url = urlparse(env[variable])
        assert (url.hostname, url.port) == (host, port), variable
    origins = env["CORS_ORIGINS"].split(",")
    assert f"http://localhost:{ports['web']}" in origins


def test_health_checks_and_startup_order() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        for dependency, rule in svc.get("depends_on", {}).items():
            assert dependency in services
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
        if name not in ONE_SHOT:
            assert "healthcheck" in svc, name
    healthy = "service_healthy"
    assert service("api")["depends_on"] == {
        "nats": {"condition": healthy},
        "restate": {"condition": healthy},
    }
    assert service("setup")["depends_on"] == {
        "restate": {"condition": healthy},
        "worker": {"condition": healthy},
        "notifications": {"condition": healthy},
        "api": {"condition": healthy},
    }
    assert service("web")["depends_on"]["setup"] == {"condition": "service_completed_successfully"}


def test_nats_runs_jetstream_on_a_volume_with_a_monitor_check() -> None:
    nats = service("nats")
    command = nats["command"]
    assert "--jetstream" in command
    store = command[command.index("--store_dir") + 1]
    assert f"nats_data:{store}" in nats["volumes"]
    assert command[command.index("--http_port") + 1] == "8222"
    assert "http://localhost:8222/healthz" in nats["healthcheck"]["test"]


def test_restate_keeps_its_data_on_a_volume() -> None:
    restate = service("restate")
    assert restate["image"].startswith("docker.restate.dev/restatedev/restate:1.")
    assert set(restate["environment"]) <= RESTATE_OWN
    assert f"restate_data:{restate['environment']['RESTATE_BASE_DIR']}" in restate["volumes"]
    assert "http://localhost:9070/health" in restate["healthcheck"]["test"]


def test_restate_runs_as_many_partitions_as_the_dev_stack() -> None:
    env = service("restate")["environment"]
    assert env["RESTATE_DEFAULT_NUM_PARTITIONS"] == str(devstack.SINGLE_NODE_PARTITIONS)


def test_setup_registers_the_worker_and_seeds_a_drop() -> None:
    ports = local_ports()
    setup = service("setup")
    assert setup["restart"] == "no"
    script, module = setup["volumes"]
    source, target, _ = script.split(":")
    assert (ROOT / source).resolve() == FLY / "bootstrap.py"
    command = setup["command"]
    assert command[:3] == ["python", target, "all"]
    # bootstrap.py imports drop/deployments.py from beside its own directory.
    module_source, module_target, _ = module.split(":")
    assert (ROOT / module_source).resolve() == ROOT / "drop" / "deployments.py"
    assert module_target == str(Path(target).parent.parent / "drop" / "deployments.py")
    assert "--admin-url=http://restate:9070" in command
    assert f"--worker-url=http://worker:{ports['worker']}" in command
    assert f"--worker-url=http://notifications:{ports['worker']}" in command
    assert f"--api-url=http://api:{ports['api']}" in command
    assert setup["environment"]["ADMIN_SECRET"] == service("api")["environment"]["ADMIN_SECRET"]


def test_the_drops_and_the_notifications_run_in_workers_of_their_own() -> None:
    drops, notifications = service("worker"), service("notifications")
    assert drops["environment"]["WORKER_ROLE"] == "drops"
    assert notifications["environment"]["WORKER_ROLE"] == "notifications"
    assert notifications["build"] == drops["build"] and notifications["command"] == drops["command"]
    assert notifications["environment"]["WORKER_VERSION"] == drops["environment"]["WORKER_VERSION"]
    assert notifications["cpu_shares"] < 1024  # the drop's worker gets the cores first


def test_setup_registers_the_build_the_worker_is() -> None:
    # The worker serves restate at /v/$WORKER_VERSION; setup registers that same version.
    version = service("worker")["environment"]["WORKER_VERSION"]
    assert version.startswith("${WORKER_VERSION:-")
    assert service("setup")["environment"]["WORKER_VERSION"] == version


def published(svc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each `ports` entry ("" = every address)."""
    out = []
    for entry in svc.get("ports", []):
        parts = str(entry).split(":")
        host = parts[0] if len(parts) == 3 else ""
        out.append((host, int(parts[-2]), int(parts[-1])))
    return out


def test_nats_and_restate_publish_on_loopback_only() -> None:
    for name, ports in (("nats", {4222, 8222}), ("restate", {8080, 9070})):
        entries = published(service(name))
        assert {container for _, _, container in entries} == ports
        assert all(host == "127.0.0.1" for host, _, _ in entries), (name, entries)
    for name in BUILT:
        assert not {4222, 8080, 9070} & {port for _, port, _ in published(service(name))}


def test_nats_requires_the_credentials_the_apps_present() -> None:
    command = service("nats")["command"]
    env = compose()["x-app"]["environment"]
    assert command[command.index("--user") + 1] == env["NATS_USER"]
    assert command[command.index("--pass") + 1] == env["NATS_PASSWORD"]
    assert env["NATS_PASSWORD"].startswith("${NATS_PASSWORD")


def test_restate_signs_with_the_generated_key_and_the_worker_checks_it() -> None:
    keys = service("keys")
    assert keys["restart"] == "no"
    script, volume = keys["volumes"]
    source, target, _ = script.split(":")
    assert (ROOT / source).resolve() == FLY / "identity.py"
    assert keys["command"][:2] == ["python", target]
    key_dir = keys["command"][keys["command"].index("--dir") + 1]
    assert volume == f"identity:{key_dir}"
    restate = service("restate")
    pem = restate["environment"]["RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"]
    assert pem == f"{key_dir}/restate-identity.pem"
    assert f"identity:{key_dir}:ro" in restate["volumes"]
    worker = service("worker")
    assert f"identity:{key_dir}:ro" in worker["volumes"]
    assert f"RESTATE_IDENTITY_KEYS=$$(cat {key_dir}/restate-identity.pub)" in worker["command"][-1]
    done = {"condition": "service_completed_successfully"}
    assert restate["depends_on"]["keys"] == worker["depends_on"]["keys"] == done
