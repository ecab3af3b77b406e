"""Fairness against the operator, on the real stack: no draw before registration closes,
and signed receipts that prove an entry's inclusion or its omission."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from drop import verify
from drop.adapters.nats_bus import Bus
from drop.domain import lottery
from drop.domain.receipts import Receipt, ReceiptKey
from tests.support.api_client import ADMIN, DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def ingress(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=60) as client:
        yield client


async def test_an_early_draw_is_refused_by_the_api_and_by_ingress(
    api: DropApi, bus: Bus, ingress: httpx.AsyncClient
) -> None:
    drop_id = uid("early")
    await api.create(drop_id, inventory=1, registrationEnd=now_ms() + 3000, purchaseWindow=60)
    assert (await api.register(drop_id, uid("u"), 1)).status_code == 200
    early = await api.client.post(f"/api/drop/{drop_id}/lottery", headers=ADMIN)
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "registration_open"
    assert "only once it has closed" in early.json()["error"]
    direct = await ingress.post(f"/Drop/{drop_id}/runLottery", json={"trigger": "admin"})
    assert direct.status_code == 409, direct.text
    assert (await api.status(drop_id))["phase"] == "registration"
    # The timer still draws at registrationEnd, and the admin call is allowed after it.
    drawn = await api.draw_after_close(bus, drop_id)
    assert drawn["phase"] == "purchase" and drawn["winnerCount"] == 1
    proof = (await api.proof(drop_id))["proof"]
    assert proof["timestamp"] >= (await api.status(drop_id))["registrationEnd"]


async def test_receipts_verify_and_prove_inclusion_or_omission(
    api: DropApi, bus: Bus, stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop_id = uid("receipts")
    users = [uid("r") for _ in range(4)]
    await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 3000, purchaseWindow=60)
    status_file = tmp_path / "status.json"
    status_file.write_text(json.dumps(await api.status(drop_id)))  # kept from creation
    published = (await api.client.get("/api/fairness/key")).json()
    key = ReceiptKey.from_wire(published)
    assert published["algorithm"] == "ed25519" and published["keyId"] == key.key_id
    assert bytes.fromhex(stack.receipt_key)  # the stack's own key, not the dev default
    receipts = {}
    for n, user in enumerate(users):
        r = await api.register(drop_id, user, 1 + n)
        assert r.status_code == 200, r.text
        receipt = Receipt.from_wire(r.json()["receipt"])
        assert (receipt.drop_id, receipt.user_id, receipt.tickets) == (drop_id, user, 1 + n)
        assert receipt.effective_tickets == r.json()["effectiveTickets"]
        assert receipt.leaf == f"{user}:{receipt.effective_tickets}"
        assert receipt.signed_by(key)
        receipts[user] = receipt
    await api.draw_after_close(bus, drop_id)
    answer = await api.proof(drop_id)
    assert answer["proof"]["receiptKey"] == published

    proof_file, receipt_file = tmp_path / "proof.json", tmp_path / "receipt.json"
    proof_file.write_text(json.dumps(answer))
    receipt_file.write_text(json.dumps(receipts[users[1]].to_wire()))
    assert verify.main([str(proof_file), "--receipt", str(receipt_file)]) == 0
    assert "Receipt: INCLUDED" in capsys.readouterr().out

    # An operator who leaves an entry out of the draw publishes a proof consistent in every
    # other respect (the tree built without it): the receipt convicts it.
    real = lottery.LotteryProof.from_wire(answer["proof"])
    forged = lottery.run_draw(
        drop_id,
        real.secret,
        [p for p in real.participants if p.user_id != users[1]],
        2,
        1.5,
        real.timestamp,
        registration_start=real.parameters.registration_start or 0,
        registration_end=real.parameters.registration_end or 0,
        receipt_key=real.receipt_key,
        beacon=real.beacon,
    )
    assert lottery.verify_proof(forged).ok  # the draw alone cannot show the omission
    proof_file.write_text(json.dumps(forged.to_wire()))
    assert verify.main([str(proof_file), "--receipt", str(receipt_file)]) == 1
    out = capsys.readouterr().out
    assert "Receipt: OMITTED" in out and f"has no leaf for {users[1]}" in out
    assert "EVIDENCE OF OMISSION" in out and receipts[users[1]].signature in out

    # Swapping the proof's receipt key does not turn that evidence into a worthless receipt:
    # the swap is named, and under the key committed at creation the omission still shows.
    other = ReceiptKey(bytes(range(32)).hex())
    proof_file.write_text(json.dumps({**forged.to_wire(), "receiptKey": other.to_wire()}))
    assert verify.main([str(proof_file), "--receipt", str(receipt_file)]) == 1
    assert "Receipt: KEY MISMATCH" in capsys.readouterr().out
    args = [str(proof_file), "--receipt", str(receipt_file), "--drop", str(status_file)]
    assert verify.main(args) == 1
    out = capsys.readouterr().out
    assert "RECEIPT KEY SWAPPED" in out and "Receipt: OMITTED" in out
    assert "EVIDENCE OF OMISSION" in out
