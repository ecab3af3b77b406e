"""A signed entry receipt checked against a published proof: included, or evidence of
omission."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drop.domain.lottery.drawing import merkle_tree
from drop.domain.lottery.inclusion import inclusion_at
from drop.domain.lottery.proof import LotteryProof
from drop.domain.proof_checks import key_swap
from drop.domain.receipts import Receipt, ReceiptKey, leaf_is_own, receipt_leaf


class Outcome(enum.Enum):
    INCLUDED = "included"
    OMITTED = "omitted"  # a valid signed receipt, and the tree has no such leaf
    INVALID = "invalid"  # the receipt itself does not hold: it proves nothing
    # The receipt names another key than the proof publishes, and no trusted key was given:
    # a swapped proof key, or a receipt from elsewhere; the committed key decides.
    KEY_MISMATCH = "key mismatch"


@dataclass(frozen=True)
class ReceiptVerdict:
    outcome: Outcome
    lines: tuple[str, ...]
    # The proof publishes another receipt key than the trusted one: a failure of the proof,
    # whatever the receipt's outcome.
    key_swapped: bool = False


def check_receipt(
    proof: LotteryProof, receipt: Receipt, key: ReceiptKey | None = None
) -> ReceiptVerdict:
    """Check ``receipt`` under ``key`` (the key the drop committed to, or the service's;
    default: the key the proof publishes), then look for its leaf in the proof's tree. A
    proof that publishes another key than ``key`` is named as a swap, and the receipt is
    still judged under ``key``, so evidence of omission stays evidence. The proof itself
    should pass the draw checks too."""
    swapped = key_swap(key, proof.receipt_key)
    verdict = _check_under(proof, receipt, key)
    if swapped:
        return ReceiptVerdict(verdict.outcome, (swapped, *verdict.lines), key_swapped=True)
    return verdict


def _check_under(
    proof: LotteryProof, receipt: Receipt, trusted: ReceiptKey | None
) -> ReceiptVerdict:
    key = trusted or proof.receipt_key
    if key is None:
        return ReceiptVerdict(
            Outcome.INVALID,
            ("The proof publishes no receipt key; pass the service's key with --key.",),
        )
    if trusted is None and receipt.key_id != key.key_id:
        return ReceiptVerdict(
            Outcome.KEY_MISMATCH,
            (
                f"The receipt was signed under key {receipt.key_id}, but the proof publishes "
                f"key {key.key_id}: either the proof's key was swapped or the receipt is not "
                "this service's. Check it under the key the drop committed to (--drop "
                "status.json) or the one at /api/fairness/key (--key).",
            ),
        )
    if receipt.key_id != key.key_id:
        return ReceiptVerdict(
            Outcome.INVALID,
            (
                f"The receipt names key {receipt.key_id}, but the key used is {key.key_id} "
                "(if the proof's key changed, check with the key published at the time).",
            ),
        )
    if not receipt.signed_by(key):
        return ReceiptVerdict(
            Outcome.INVALID, ("The receipt's signature is not valid: it proves nothing.",)
        )
    if receipt.drop_id != proof.drop_id:
        return ReceiptVerdict(
            Outcome.INVALID,
            (f"The receipt is for drop {receipt.drop_id}, the proof for {proof.drop_id}.",),
        )
    if not leaf_is_own(receipt.leaf, receipt.user_id, receipt.effective_tickets):
        return ReceiptVerdict(
            Outcome.INVALID, ("The receipt's leaf does not match its own userId and tickets.",)
        )
    signed = (
        f"Signed receipt (key {key.key_id}): {receipt.user_id} entered {receipt.drop_id} at "
        f"{receipt.registered_at} with {receipt.tickets} tickets, committing to leaf "
        f"{receipt.leaf!r}."
    )
    participants = proof.participants
    tree = merkle_tree(participants)
    index = next((i for i, p in enumerate(participants) if p.user_id == receipt.user_id), None)
    found = inclusion_at(participants, tree, index) if index is not None else None
    held = receipt_leaf(found.user_id, found.effective_tickets, found.ranking) if found else None
    in_tree = found is not None and held == receipt.leaf and found.verified()
    if in_tree and found is not None and tree.root == proof.merkle_root.lower():
        return ReceiptVerdict(
            Outcome.INCLUDED,
            (
                signed,
                f"Included: leaf {found.leaf!r} at index {found.index} links to the "
                f"published root {proof.merkle_root} in {len(found.steps)} steps.",
            ),
        )
    if tree.root != proof.merkle_root.lower():
        return ReceiptVerdict(
            Outcome.INVALID,
            (signed, "The participant list does not hash to the published root; fix that first."),
        )
    if found is None:
        fact = (
            f"The published tree (root {proof.merkle_root}, {len(participants)} leaves) has no "
            f"leaf for {receipt.user_id}."
        )
    else:
        fact = (
            f"The published tree (root {proof.merkle_root}) holds {found.leaf!r} for "
            f"{receipt.user_id}, not {receipt.leaf!r}: the entry was changed."
        )
    evidence = (
        "EVIDENCE OF OMISSION: the service signed this entry, and its published draw left it "
        "out. Keep the receipt and this proof; anyone can check both."
    )
    return ReceiptVerdict(Outcome.OMITTED, (signed, fact, evidence))
