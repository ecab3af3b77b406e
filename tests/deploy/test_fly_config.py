"""Every fly/<app>/fly.toml against the apps' real settings and fly/deploy.py."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from devtools import devstack

from .support import BUILT, FLY, SERVICES, load_deploy_module, settings_env_names

FLY_PORT = {"worker": 8080, "api": 8080, "sse": 8080, "web": 3000}
PUBLIC = ("api", "sse", "web")
RESTATE_OWN = {
    "RESTATE_NODE_NAME",
    "RESTATE_BASE_DIR",
    "RESTATE_INGRESS__BIND_ADDRESS",
    "RESTATE_ADMIN__BIND_ADDRESS",
    "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE",
    "RESTATE_DEFAULT_NUM_PARTITIONS",
}


def fly_toml(service: str) -> dict[str, Any]:
    with (FLY / service / "fly.toml").open("rb") as f:
        return tomllib.load(f)


def checks(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-level [checks.*] and [[http_service.checks]] together."""
    found = list(config.get("checks", {}).values())
    return found + list(config.get("http_service", {}).get("checks", []))


@pytest.mark.parametrize("service", SERVICES)
def test_each_app_has_a_fly_toml_named_after_the_default_prefix(service: str) -> None:
    config = fly_toml(service)
    assert config["app"] == f"drop-{service}"
    assert config["primary_region"] == "sjc"
    assert config["vm"][0]["size"].startswith("shared-cpu")


@pytest.mark.parametrize("service", BUILT)
def test_python_apps_bind_ipv6_on_their_fly_port(service: str) -> None:
    env = fly_toml(service)["env"]
    assert env["HOST"] == "::"
    assert int(env["PORT"]) == FLY_PORT[service]
    assert env["DROP_ENV"] == "production"


@pytest.mark.parametrize("service", BUILT)
def test_env_names_are_real_settings(service: str) -> None:
    unknown = set(fly_toml(service)["env"]) - settings_env_names()
    assert not unknown, f"{service}: not read by drop.settings: {unknown}"


@pytest.mark.parametrize("service", PUBLIC)
def test_public_apps_route_on_readiness_and_check_liveness(service: str) -> None:
    config = fly_toml(service)
    http = config["http_service"]
    assert http["internal_port"] == int(config["env"]["PORT"]) == FLY_PORT[service]
    assert http["force_https"] is True
    # The proxy's check decides routing: readiness (dependencies reachable).
    (routing,) = http["checks"]
    assert {"method": "GET", "path": "/ready"}.items() <= routing.items()
    # Liveness on the same port, asking no dependency.
    alive = config["checks"]["alive"]
    assert (alive["type"], alive["port"], alive["path"]) == (
        "http",
        http["internal_port"],
        "/health",
    )


def test_worker_is_private_and_checked_on_its_port() -> None:
    config = fly_toml("worker")
    assert "http_service" not in config and "services" not in config
    (check,) = checks(config)
    assert check["type"] == "http"
    assert check["port"] == int(config["env"]["PORT"]) == load_deploy_module().PRIVATE_PORT
    assert check["path"] == "/health"


def test_sse_is_tuned_for_long_lived_streams() -> None:
    http = fly_toml("sse")["http_service"]
    assert http["concurrency"]["type"] == "connections"
    assert http["concurrency"]["hard_limit"] >= 1000
    assert http["concurrency"]["soft_limit"] <= http["concurrency"]["hard_limit"]
    assert http["http_options"]["idle_timeout"] >= 60
    assert http["auto_stop_machines"] == "off"
    heartbeat = float(fly_toml("sse")["env"]["SSE_HEARTBEAT_SECONDS"])
    assert heartbeat < http["http_options"]["idle_timeout"]


def test_nats_runs_jetstream_on_its_volume_with_a_monitor_check() -> None:
    config = fly_toml("nats")
    assert config["build"]["image"].startswith("nats:2.")
    command = config["processes"]["app"].split()
    for flag, value in (("--addr", "::"), ("--store_dir", "/data"), ("--http_port", "8222")):
        assert command[command.index(flag) + 1] == value
    assert "--jetstream" in command
    volume, _ = load_deploy_module().VOLUMES["nats"]
    assert config["mounts"] == {"source": volume, "destination": "/data"}
    (check,) = checks(config)
    assert (check["type"], check["port"], check["path"]) == ("http", 8222, "/healthz")


def test_restate_is_pinned_listens_on_ipv6_and_keeps_its_data_on_the_volume() -> None:
    config = fly_toml("restate")
    assert re.fullmatch(
        r"docker\.restate\.dev/restatedev/restate:1\.\d+(\.\d+)?", config["build"]["image"]
    )
    env = config["env"]
    assert set(env) <= RESTATE_OWN
    assert env["RESTATE_INGRESS__BIND_ADDRESS"] == "[::]:8080"
    volume, _ = load_deploy_module().VOLUMES["restate"]
    assert config["mounts"] == {"source": volume, "destination": env["RESTATE_BASE_DIR"]}
    ports = {check["port"] for check in checks(config)}
    assert 8080 in ports


def test_restate_runs_as_many_partitions_as_the_dev_stack() -> None:
    env = fly_toml("restate")["env"]
    assert env["RESTATE_DEFAULT_NUM_PARTITIONS"] == str(devstack.SINGLE_NODE_PARTITIONS)


def test_deploy_script_names_only_real_settings_and_known_ports() -> None:
    deploy = load_deploy_module()
    cfg = deploy.Config(prefix="x-drop")
    names = settings_env_names()
    for service in SERVICES:
        assert set(cfg.env_for(service)) <= names
    assert set(deploy.SECRETS) <= names
    internal_app_secrets = {"NATS_USER", "NATS_PASSWORD", "RESTATE_IDENTITY_KEYS"}
    assert internal_app_secrets <= names
    assert deploy.VOLUMES == {"nats": ("nats_data", 1), "restate": ("restate_data", 10)}
    assert deploy.PRIVATE_PORT == FLY_PORT["api"] == FLY_PORT["sse"] == FLY_PORT["worker"]
    # deploy.py addresses each app on the port its fly.toml serves
    web = cfg.env_for("web")
    assert web["INTERNAL_API_URL"].endswith(f":{fly_toml('api')['http_service']['internal_port']}")
    assert web["INTERNAL_SSE_URL"].endswith(f":{fly_toml('sse')['http_service']['internal_port']}")
    assert cfg.env_for("api")["NATS_URL"] == "nats://x-drop-nats.internal:4222"


def secret_files(config: dict[str, Any]) -> dict[str, str]:
    """guest path -> secret name of each `[[files]]` entry filled from a secret."""
    return {f["guest_path"]: f["secret_name"] for f in config.get("files", [])}


def test_restate_is_never_public_and_its_admin_stays_on_the_machine() -> None:
    config = fly_toml("restate")
    assert "services" not in config and "http_service" not in config
    host, _, port = config["env"]["RESTATE_ADMIN__BIND_ADDRESS"].rpartition(":")
    assert (host, port) == ("127.0.0.1", "9070")
    assert all(check["port"] != 9070 for check in checks(config))


def test_restate_signs_worker_calls_with_the_staged_key() -> None:
    config = fly_toml("restate")
    path = config["env"]["RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"]
    deploy = load_deploy_module()
    assert secret_files(config) == {path: "RESTATE_IDENTITY_PEM"}
    assert deploy.APP_SECRETS["restate"] == ("RESTATE_IDENTITY_PEM",)
    assert "RESTATE_IDENTITY_KEYS" in deploy.APP_SECRETS["worker"]


def test_nats_requires_the_staged_credentials() -> None:
    config = fly_toml("nats")
    assert "services" not in config and "http_service" not in config
    command = config["processes"]["app"].split()
    conf = command[command.index("--config") + 1]
    assert secret_files(config) == {conf: "NATS_AUTH_CONF"}
    deploy = load_deploy_module()
    for service in ("worker", "api", "sse"):
        assert {"NATS_USER", "NATS_PASSWORD"} <= set(deploy.APP_SECRETS[service])
    assert set(deploy.APP_SECRETS["web"]) == set(deploy.SECRETS)


@pytest.mark.parametrize("service", ["api", "sse", "web", "worker"])
def test_fly_scrapes_metrics_on_their_private_port(service: str) -> None:
    config = fly_toml(service)
    metrics = config["metrics"]
    assert metrics == {"port": int(config["env"]["METRICS_PORT"]), "path": "/metrics"}
    assert metrics["port"] != FLY_PORT[service]
    exposed = config.get("http_service", {}).get("internal_port")
    assert metrics["port"] != exposed


def test_the_worker_runs_the_drops_and_the_notifications_as_process_groups() -> None:
    processes = fly_toml("worker")["processes"]
    deploy = load_deploy_module()
    assert set(processes) == set(deploy.WORKER_ROLES) == {"drops", "notifications"}
    for role, command in processes.items():
        assert command.split() == ["env", f"WORKER_ROLE={role}", "python", "-m", "apps.worker"]
