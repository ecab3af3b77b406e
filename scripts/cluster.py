"""`make cluster`: the clustered stack on localhost (devtools/clusterstack.py), the demo drop,
its URLs, and a clean Ctrl-C.

A fresh cluster each run under `.data/cluster/`: three nats-server nodes (JetStream, R3),
three restate-server nodes (replication 2), the worker, two api and two sse replicas behind
HAProxy, and the web on :3000. A process that dies is started again, so killing one (a
node, a replica) shows the rest carrying on.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools import devstack
from devtools.clusterstack import Cluster
from devtools.devstack import StackError
from drop.settings import SecretSettings
from scripts.dev import announce, say, seed_demo_drop

DATA = Path(os.environ.get("CLUSTER_DATA_DIR", str(devstack.ROOT / ".data" / "cluster")))


def main() -> int:
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    # A real chain's BEACON_* settings replace the local test beacon (3 s rounds).
    chain = {k: v for k, v in os.environ.items() if k.startswith("BEACON_")}
    cluster = Cluster(DATA, env=chain, fixed_ports=True, beacon_period=3)
    stop = devstack.StopRequest()
    stop.install()
    try:
        say("dev", f"starting the cluster (logs in {DATA})")
        cluster.start()
        drop_id = seed_demo_drop(cluster.url("api"), SecretSettings().admin_secret)
        print_urls(cluster, drop_id)
        stop.started = True
        while not stop.requested:
            for name, proc in cluster.procs.items():
                if not proc.alive and not stop.requested:
                    say("dev", f"{name} exited; starting it again")
                    proc.restart()
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:  # a signal while starting up (see devstack.StopRequest)
        return 0
    except (StackError, httpx.HTTPError) as exc:
        say("dev", f"failed: {exc}")
        return 1
    finally:
        stop.started = True
        say("dev", "stopping...")
        cluster.stop()
        say("dev", "stopped")


def print_urls(cluster: Cluster, drop_id: str | None) -> None:
    lines = [
        f"site         {cluster.url('web')}/",
        f"api (lb)     {cluster.url('api')}/docs   replicas "
        + " ".join(cluster.url(f"api{i}") for i in (1, 2)),
        f"sse (lb)     {cluster.url('sse')}/health replicas "
        + " ".join(cluster.url(f"sse{i}") for i in (1, 2)),
        f"nats         {cluster.nats_url}",
        "nats monitor " + " ".join(n.url("monitor") for n in cluster.nats),
        f"restate      {cluster.ingress_url}",
        "restate admin " + " ".join(n.url("admin") for n in cluster.restate),
        f"worker       {cluster.worker_url} (registered once)",
        f"beacon       {cluster.beacon_env().get('BEACON_URLS', os.environ.get('BEACON_URLS'))}",
    ]
    if drop_id:
        lines.append(f"demo drop    {cluster.url('web')}/drop/{drop_id}")
    announce("cluster is up:", lines)


if __name__ == "__main__":
    sys.exit(main())
