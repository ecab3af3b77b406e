"""Upgrading the worker during a drop: two builds registered as immutable deployments.

The draw below is already running on build 1 (started by its timer a moment before the
close, it sleeps durably until registrationEnd) when build 2 is registered. It must finish
on build 1; new calls must reach build 2; build 1 is retired only once drained.
"""

from __future__ import annotations

import httpx
import pytest

from devtools import devstack
from drop import deployments
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def invocation(admin: deployments.Admin, invocation_id: str) -> dict[str, str]:
    sql = f"SELECT status, pinned_deployment_id FROM sys_invocation WHERE id = '{invocation_id}'"
    rows = admin("POST", "/query", {"query": sql})["rows"]
    return dict(rows[0]) if rows else {}


async def test_a_running_draw_finishes_on_its_build_while_new_calls_reach_the_next(
    own_stack: Stack,
) -> None:
    stack = own_stack
    admin = deployments.http_admin(stack.admin_url)
    v1_url = stack.start_worker_build("v1")
    first = devstack.register_worker(stack.admin_port, v1_url, version="v1")
    assert first.retired == () and first.draining == {}
    base = stack.start_app("api")
    # Build 2's process starts before the drop: of the 8 s to the close only its registration
    # is left to happen (a process start alone can take that long on a busy machine).
    v2_url = stack.start_worker_build("v2")

    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as client,
        httpx.AsyncClient(base_url=stack.ingress_url, timeout=60) as ingress,
    ):
        api = DropApi(client)
        drop_id = uid("upgrade")
        users = [uid(f"u{i}") for i in range(8)]
        await api.create(drop_id, inventory=3, registrationEnd=now_ms() + 8000, purchaseWindow=30)
        for user in users:
            assert (await api.register(drop_id, user, 1)).status_code == 200

        # The draw's timer firing early: the draw starts on build 1 and sleeps to the close.
        sent = await ingress.post(f"/Drop/{drop_id}/runLottery/send", json={"trigger": "timer"})
        assert sent.status_code == 202, sent.text
        draw_id = sent.json()["invocationId"]
        devstack.wait_until(
            lambda: bool(invocation(admin, draw_id).get("pinned_deployment_id")), 20, "pinned"
        )
        v1_id = invocation(admin, draw_id)["pinned_deployment_id"]
        assert invocation(admin, draw_id)["status"] != "completed"

        upgraded = devstack.register_worker(stack.admin_port, v2_url, version="v2")
        assert upgraded.current != v1_id
        assert upgraded.retired == ()
        assert upgraded.draining == {v1_id: 1}  # the sleeping draw holds build 1

        answer = await ingress.post("/Diagnostics/version", json=None)
        assert answer.json() == "v2"  # a new invocation reaches the new build

        drawn = await ingress.get(f"/restate/invocation/{draw_id}/attach")
        assert drawn.status_code == 200, drawn.text
        assert drawn.json()["phase"] == "purchase"
        assert drawn.json()["winnerCount"] == 3
        # It ran to the end where it began: build 1's journal, build 1's code.
        assert invocation(admin, draw_id)["pinned_deployment_id"] == v1_id

        # Drained: the next upgrade run retires build 1, and build 2 alone remains.
        retired = deployments.retire_drained(admin, upgraded.current)
        assert [d.id for d in retired.retired] == [v1_id] and retired.draining == {}
        assert [d.id for d in deployments.deployments(admin)] == [upgraded.current]

        # Nothing stuck: the drop answers and its proof counts every registration.
        proof = (await api.proof(drop_id))["proof"]
        assert len(proof["winners"]) == 3
        status = await api.status(drop_id)
        assert status["participantCount"] == len(users)
