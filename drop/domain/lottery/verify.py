"""The checks an outside verifier runs on a published lottery proof, each by name.

Everything is recomputed from the proof's own fields; checks against what the drop
committed to before the draw are in :mod:`drop.domain.proof_checks`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from drop.domain.beacon import check_record
from drop.domain.lottery.allocation import (
    Allocation,
    ranking_problem,
    variant_problems,
)
from drop.domain.lottery.drawing import (
    ALGORITHM,
    ALGORITHM_V1,
    commitment,
    derive_seed,
    draw,
    expected_counts,
    merkle_tree,
    order_participants,
)
from drop.domain.lottery.proof import LotteryProof, allocate_sizes


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of verifying a published proof; ``problems`` are plain sentences."""

    ok: bool
    problems: tuple[str, ...]


def _is_hex32(value: str) -> bool:
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def _check_commitment(proof: LotteryProof) -> list[str]:
    if not _is_hex32(proof.secret):
        return ["The revealed secret is not 32 bytes of hex."]
    if commitment(proof.secret) != proof.commitment.lower():
        return ["The commitment is not sha256 of the revealed secret."]
    return []


def _check_participants(proof: LotteryProof) -> list[str]:
    problems: list[str] = []
    ps = proof.participants
    if proof.participant_count != len(ps):
        problems.append(
            f"participantCount is {proof.participant_count} but {len(ps)} participants are listed."
        )
    if any(a.user_id >= b.user_id for a, b in itertools.pairwise(ps)):
        problems.append("Participants are not in canonical order (sorted, unique userIds).")
    if any(p.effective_tickets < 0 for p in ps):
        problems.append("A participant has a negative number of effective tickets.")
    total = sum(p.effective_tickets for p in ps)
    if proof.total_effective_tickets != total:
        problems.append(
            f"totalEffectiveTickets is {proof.total_effective_tickets} but the participants "
            f"add up to {total}."
        )
    return problems


def _check_merkle(proof: LotteryProof) -> list[str]:
    if merkle_tree(proof.participants).root != proof.merkle_root.lower():
        return ["The Merkle root recomputed from the participants does not match."]
    return []


def _check_seed(proof: LotteryProof) -> list[str]:
    if not _is_hex32(proof.merkle_root) or not _is_hex32(proof.seed):
        return ["The Merkle root or the seed is not 32 bytes of hex."]
    if not _is_hex32(proof.secret):
        return ["The seed cannot be recomputed without a valid secret."]
    if derive_seed(proof.secret, proof.merkle_root, proof.seed_beacon) != proof.seed.lower():
        if proof.seed_beacon:
            return ["The seed is not derived from the secret, the Merkle root and the beacon."]
        return ["The seed is not derived from the secret and the Merkle root."]
    return []


def _check_beacon(proof: LotteryProof) -> list[str]:
    if proof.algorithm == ALGORITHM_V1:
        return []
    if proof.beacon is None:
        return [f"A {ALGORITHM} proof must carry its beacon round."]
    return check_record(proof.beacon, proof.parameters.registration_end, proof.timestamp)


def _recomputed_sizes(proof: LotteryProof) -> Allocation | None:
    """The allocation of a proof with variants recomputed from its own fields, or None when
    it has no variants or its seed, participants or multiplier cannot be used."""
    multiplier = proof.parameters.backup_multiplier
    if proof.variants is None or multiplier is None or not _is_hex32(proof.seed):
        return None
    if any(not p.ranking for p in proof.participants):
        return None
    try:
        ordered = order_participants(proof.participants)
    except ValueError:
        return None
    return allocate_sizes(ordered, proof.seed.lower(), proof.variants, multiplier)


def _counts(proof: LotteryProof) -> tuple[int, int] | None:
    """The counts the rules give for this proof, or None when it lacks the parameters."""
    params = proof.parameters
    if params.inventory is None or params.backup_multiplier is None:
        return None
    if proof.variants is not None:
        sized = _recomputed_sizes(proof)
        return None if sized is None else (len(sized.winners), len(sized.backups))
    weights = [p.effective_tickets for p in proof.participants]
    return expected_counts(params.inventory, params.backup_multiplier, weights)


def _check_parameters(proof: LotteryProof) -> list[str]:
    params = proof.parameters
    missing = params.missing()
    if missing:
        return [
            f"The proof does not carry {', '.join(missing)}: its winner and backup counts "
            "cannot be checked against the drop's rules."
        ]
    problems: list[str] = []
    counts = _counts(proof) or (len(proof.winners), len(proof.backups))
    assert params.registration_end is not None
    winners, backups = counts
    rule = (
        f"min(inventory {params.inventory}, participants {len(proof.participants)}) = "
        f"{winners} winners and {backups} backups (backup multiplier "
        f"{params.backup_multiplier})"
    )
    if proof.variants is not None:
        rule = (
            f"{winners} winners and {backups} backups by walking the lottery order over the "
            f"variants (backup multiplier {params.backup_multiplier})"
        )
    for label, listed, declared, expected in (
        ("winners", len(proof.winners), params.winner_count, winners),
        ("backups", len(proof.backups), params.backup_count, backups),
    ):
        if listed != expected:
            how = "shortened" if listed < expected else "padded"
            problems.append(
                f"The list of {label} is {how}: {listed} listed, but the rules give {rule}."
            )
        if declared != expected:
            problems.append(f"The declared number of {label} is {declared}; the rules give {rule}.")
    if (
        params.registration_start is not None
        and params.registration_start > params.registration_end
    ):
        problems.append("registrationStart is after registrationEnd.")
    if proof.timestamp < params.registration_end:
        problems.append(
            f"The draw ran at {proof.timestamp}, before registration closed at "
            f"{params.registration_end}."
        )
    return problems


def _check_selection(proof: LotteryProof) -> list[str]:
    if not _is_hex32(proof.seed):
        return ["The winners cannot be recomputed without a valid seed."]
    picked = proof.winners + proof.backups
    if len(set(picked)) != len(picked):
        return ["Somebody appears twice among the winners and backups."]
    try:
        ordered = order_participants(proof.participants)
    except ValueError as exc:
        return [f"The winners cannot be recomputed: {exc}."]
    if proof.variants is not None:
        return _check_sizes(proof)
    winners, backups = _counts(proof) or (len(proof.winners), len(proof.backups))
    result = draw(ordered, winners, backups, proof.seed.lower())
    problems: list[str] = []
    if result.winners != proof.winners:
        problems.append("The winners recomputed from the seed do not match the published ones.")
    if result.backups != proof.backups:
        problems.append("The backups recomputed from the seed do not match the published ones.")
    return problems


def _check_variants(proof: LotteryProof) -> list[str]:
    """The configured variants and every entrant's ranked list are well formed (and a drop
    without variants has no rankings and no allocation)."""
    ranked = [p.user_id for p in proof.participants if p.ranking]
    if proof.variants is None:
        if ranked or proof.allocation:
            return [
                "The proof has no variants, yet ranked lists or an allocation: "
                f"{', '.join(ranked[:5]) or 'allocation'}."
            ]
        return []
    problems = [f"Variants: {p}." for p in variant_problems(proof.variants)]
    total = sum(v.inventory for v in proof.variants)
    if proof.parameters.inventory is not None and total != proof.parameters.inventory:
        problems.append(
            f"The variants hold {total} items in all, but the proof's inventory is "
            f"{proof.parameters.inventory}."
        )
    known = [v.id for v in proof.variants]
    for p in proof.participants:
        problem = ranking_problem(p.ranking, known)
        if problem is not None:
            problems.append(f"The ranked list of {p.user_id} is unusable: {problem}.")
    return problems


def _check_sizes(proof: LotteryProof) -> list[str]:
    """Winners, backups and the variant each was given, recomputed by walking the order."""
    sized = _recomputed_sizes(proof)
    if sized is None:
        return ["The allocation cannot be recomputed (see the checks above)."]
    problems: list[str] = []
    if sized.winners != proof.winners:
        problems.append(
            "The winners recomputed by walking the lottery order over the variants do not "
            "match the published ones."
        )
    if sized.backups != proof.backups:
        problems.append(
            "The backups recomputed by walking the lottery order over the variants do not "
            "match the published ones."
        )
    for user in sorted(set(sized.variant_of) | set(proof.allocation)):
        claimed, given = proof.allocation.get(user), sized.variant_of.get(user)
        if claimed != given:
            problems.append(
                f"The allocation gives {user} {claimed or 'nothing'}; the recomputation gives "
                f"{given or 'nothing'}."
            )
    return problems


CHECKS = (
    ("commitment", _check_commitment),
    ("participants", _check_participants),
    ("merkle root", _check_merkle),
    ("beacon", _check_beacon),
    ("seed", _check_seed),
    ("variants", _check_variants),
    ("counts and window", _check_parameters),
    ("winners and backups", _check_selection),
)


def check_proof(proof: LotteryProof) -> list[tuple[str, tuple[str, ...]]]:
    """Each named check of a proof with its problems (empty when the check passed)."""
    if proof.algorithm not in (ALGORITHM, ALGORITHM_V1):
        problem = f"Unsupported algorithm {proof.algorithm!r} (expected {ALGORITHM!r})."
        return [("algorithm", (problem,))]
    return [("algorithm", ())] + [(name, tuple(check(proof))) for name, check in CHECKS]


def verify_proof(proof: LotteryProof) -> VerifyReport:
    """Recompute commitment, Merkle root, seed, winners and backups of a published proof.

    Winners and backups must be exactly the first picks of the seeded sequence, in order,
    and exactly as many as the published inventory and backup multiplier give: a list cut
    short or padded at its end fails, as does a draw timed before registration closed.
    """
    problems = tuple(p for _, found in check_proof(proof) for p in found)
    return VerifyReport(ok=not problems, problems=problems)
