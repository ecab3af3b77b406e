"""The public key that signs entry receipts, at a stable address."""

from __future__ import annotations

from fastapi import APIRouter

from apps.api.deps import State
from drop.domain import receipts

router = APIRouter(prefix="/api")


@router.get("/fairness/key")
async def receipt_key(state: State) -> dict[str, str]:
    """`{keyId, publicKey, algorithm}`: check a receipt's signature against this key (the
    same key is published in every proof)."""
    return receipts.signer_for(state.secrets.receipt_signing_key).key.to_wire()
