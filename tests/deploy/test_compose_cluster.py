"""docker-compose.yml's `cluster` profile: the shape of `fly/deploy.py --ha`, in compose.

3 nats-server nodes routed to each other (JetStream, R3), 3 restate-server nodes (replicated
metadata and log, replication 2, node 1 provisions), each on a volume of its own; the worker
registered once; 2 api and 2 sse replicas behind HAProxy, which the web goes through.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from .support import FLY, ROOT, load_deploy_module, settings_env_names
from .test_compose import compose, default_services, published, service

NATS = ("nats-1", "nats-2", "nats-3")
RESTATE = ("restate-1", "restate-2", "restate-3")
APPS = ("cluster-worker", "api-1", "api-2", "sse-1", "sse-2", "cluster-web")
CLUSTER = {*NATS, *RESTATE, *APPS, "haproxy", "cluster-setup"}
# Read by the apps once the `cluster` branch's drop/settings.py is in (NATS_REPLICAS).
PENDING_SETTINGS = {"NATS_REPLICAS"}


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def fly_ha(name: str) -> dict[str, Any]:
    with (FLY / name / "fly.ha.toml").open("rb") as f:
        return tomllib.load(f)


def hosts(urls: str) -> list[tuple[str | None, int | None]]:
    return [(urlparse(u).hostname, urlparse(u).port) for u in urls.split(",")]


def anonymous_volume_at(svc: dict[str, Any], target: str) -> bool:
    """The service keeps `target` on an anonymous volume: one per container, created only
    when the container is, so the default stack creates none of the cluster's volumes."""
    return target in svc["volumes"]


def test_the_profile_holds_the_cluster_and_nothing_else() -> None:
    profiled = {n for n, s in compose()["services"].items() if s.get("profiles")}
    assert profiled == CLUSTER
    assert all(service(n)["profiles"] == ["cluster"] for n in CLUSTER)
    # Named alone (`up cluster-web`), it starts without the single-node stack: only the
    # shared one-shot `keys` and the test beacon are outside the profile.
    for name in CLUSTER:
        assert set(service(name).get("depends_on", {})) <= CLUSTER | {"keys", "beacon"}, name
    assert default_services().isdisjoint(CLUSTER)


def test_three_nats_nodes_route_to_each_other_with_jetstream() -> None:
    names = set()
    for node in NATS:
        svc = service(node)
        command = svc["command"]
        assert svc["image"] == service("nats")["image"]
        assert "--jetstream" in command
        names.add(option(command, "--server_name"))
        assert option(command, "--cluster_name") == "drop"
        assert urlparse(option(command, "--cluster")).port == 6222
        assert set(hosts(option(command, "--routes"))) == {(n, 6222) for n in NATS}
        assert anonymous_volume_at(svc, option(command, "--store_dir")), node
        # Same client credentials as the single node: the apps present them.
        for flag in ("--user", "--pass"):
            assert option(command, flag) == option(service("nats")["command"], flag)
        assert "http://localhost:8222/healthz" in svc["healthcheck"]["test"]
    assert names == set(NATS)
    # Fly's --ha NATS cluster goes by the same name.
    assert "--cluster_name drop" in fly_ha("nats")["experimental"]["entrypoint"][-1]


def test_three_restate_nodes_replicate_and_only_the_first_provisions() -> None:
    advertised = []
    fly_env = fly_ha("restate")["env"]
    for node in RESTATE:
        svc = service(node)
        env = svc["environment"]
        assert svc["image"] == service("restate")["image"]
        assert env["RESTATE_NODE_NAME"] == node
        assert urlparse(env["RESTATE_ADVERTISED_ADDRESS"]).hostname == node
        advertised.append(env["RESTATE_ADVERTISED_ADDRESS"])
        assert env["RESTATE_AUTO_PROVISION"] == ("true" if node == "restate-1" else "false")
        for same_as_fly in (
            "RESTATE_CLUSTER_NAME",
            "RESTATE_DEFAULT_REPLICATION",
            "RESTATE_BIFROST__DEFAULT_PROVIDER",
        ):
            assert env[same_as_fly] == fly_env[same_as_fly], same_as_fly
        assert env["RESTATE_DEFAULT_REPLICATION"] == "2"
        assert env["RESTATE_BIFROST__DEFAULT_PROVIDER"] == "replicated"
        assert anonymous_volume_at(svc, env["RESTATE_BASE_DIR"]), node
        pem = env["RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"]
        assert (
            pem
            == service("restate")["environment"][
                "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"
            ]
        )
        assert "identity:/identity:ro" in svc["volumes"]
        assert "http://localhost:9070/health" in svc["healthcheck"]["test"]
    for node in RESTATE:
        addresses = service(node)["environment"]["RESTATE_METADATA_CLIENT__ADDRESSES"]
        assert sorted(json.loads(addresses)) == sorted(advertised)


def test_the_apps_know_every_node_and_create_r3() -> None:
    known = settings_env_names()
    for name in APPS:
        env = service(name)["environment"]
        assert set(hosts(env["NATS_URL"])) == {(n, 4222) for n in NATS}, name
        assert set(hosts(env["RESTATE_INGRESS_URL"])) == {(n, 8080) for n in RESTATE}, name
        assert env["NATS_REPLICAS"] == "3"
        assert urlparse(env["RESTATE_ADMIN_URL"]).hostname in RESTATE
        unknown = set(env) - known - (PENDING_SETTINGS - known)
        assert not unknown, f"{name}: not read by drop.settings: {unknown}"
    # The same replica count as `fly/deploy.py --ha` gives its apps.
    deploy = load_deploy_module()
    ha = deploy.config_from_env({"APP_PREFIX": "x", "WORKER_VERSION": "1"}, ha=True)
    for app in ("worker", "api", "sse"):
        assert ha.env_for(app)["NATS_REPLICAS"] == "3"


def test_as_many_nodes_and_replicas_as_fly_ha() -> None:
    counts = load_deploy_module().HA_COUNTS
    assert counts == {"nats": len(NATS), "restate": len(RESTATE), "api": 2, "sse": 2}


def test_two_api_and_two_sse_replicas_of_the_same_images() -> None:
    for kind, port in (("api", 3003), ("sse", 3004)):
        first, second = service(f"{kind}-1"), service(f"{kind}-2")
        assert first == second
        assert first["build"] == service(kind)["build"]
        assert first["environment"]["PORT"] == str(port)
        assert not first.get("ports")  # reached through HAProxy only
    assert [n for n in CLUSTER if "worker" in n] == ["cluster-worker"]


def haproxy_config() -> tuple[Path, str]:
    svc = service("haproxy")
    (mount,) = svc["volumes"]
    source, target, mode = mount.split(":")
    assert target == "/usr/local/etc/haproxy/haproxy.cfg" and mode == "ro"
    path = (ROOT / source).resolve()
    return path, path.read_text()


def backends(config: str) -> dict[str, set[tuple[str, int]]]:
    """Each backend's servers (host, port), and each frontend's bound port under `:<name>`."""
    found: dict[str, set[tuple[str, int]]] = {}
    section = ""
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if not words:
            continue
        if words[0] in ("frontend", "backend"):
            section = words[1] if words[0] == "backend" else f":{words[1]}"
        elif words[0] == "server":
            host, port = words[2].rsplit(":", 1)
            found.setdefault(section, set()).add((host, int(port)))
        elif words[0] == "bind":
            found.setdefault(section, set()).add(("*", int(words[1].rsplit(":", 1)[1])))
        elif words[0] == "default_backend":
            found.setdefault(f"{section}->", set()).add((words[1], 0))
    return found


def test_the_web_reaches_the_replicas_through_haproxy() -> None:
    _, config = haproxy_config()
    found = backends(config)
    web = service("cluster-web")["environment"]
    for kind, variable in (("api", "INTERNAL_API_URL"), ("sse", "INTERNAL_SSE_URL")):
        url = urlparse(web[variable])
        assert url.hostname == "haproxy"
        assert found[f":{kind}"] == {("*", url.port)}
        ((backend, _),) = found[f":{kind}->"]
        assert found[backend] == {(f"{kind}-1", url.port), (f"{kind}-2", url.port)}
        assert str(url.port) in service("haproxy")["expose"]
    haproxy = service("haproxy")
    assert set(haproxy["depends_on"]) == {"api-1", "api-2", "sse-1", "sse-2"}
    assert ("*", 8404) in found[":health"]
    assert "http://localhost:8404/health" in haproxy["healthcheck"]["test"]
    assert "option httpchk GET /health" in config


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy to check the config")
def test_haproxy_accepts_its_config() -> None:
    path, _ = haproxy_config()
    check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_worker_is_registered_once_through_node_one() -> None:
    setup = service("cluster-setup")
    command = setup["command"]
    assert command[:3] == service("setup")["command"][:3]
    assert setup["volumes"] == service("setup")["volumes"]
    assert "--admin-url=http://restate-1:9070" in command
    assert "--worker-url=http://cluster-worker:9080" in command
    assert "--api-url=http://haproxy:3003" in command
    worker_version = service("cluster-worker")["environment"]["WORKER_VERSION"]
    assert setup["environment"]["WORKER_VERSION"] == worker_version
    assert setup["depends_on"]["restate-1"] == {"condition": "service_healthy"}
    assert service("cluster-web")["depends_on"]["cluster-setup"] == {
        "condition": "service_completed_successfully"
    }


def test_the_cluster_web_has_a_port_and_origin_of_its_own() -> None:
    ((_, host_port, container_port),) = published(service("cluster-web"))
    assert container_port == 3000
    taken = {port for name in default_services() for _, port, _ in published(service(name))}
    assert host_port not in taken
    origins = service("cluster-web")["environment"]["CORS_ORIGINS"].split(",")
    assert f"http://localhost:{host_port}" in origins
    for name in CLUSTER - {"cluster-web"}:
        assert not published(service(name)), name
