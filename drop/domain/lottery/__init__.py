"""The provably fair draw, room by room:

- :mod:`.drawing`: the algorithm itself (commitment, seed, random stream, weighted selection
  and the Merkle leaves it commits to);
- :mod:`.proof`: what a draw publishes (parameters, the lottery proof) and their wire forms,
  read field by field with :mod:`.proof_fields`;
- :mod:`.inclusion`: a participant's Merkle inclusion proof and its wire form;
- :mod:`.allocation`: sizes, the lottery order handed out by random serial dictatorship;
- :mod:`.verify`: the named checks an outside verifier runs on a published proof.

The names below are the package's public surface, so callers need not know which room
holds what.
"""

from drop.domain.lottery.allocation import (
    MAX_VARIANTS,
    Allocation,
    Variant,
    allocate,
    check_ranking,
    next_backup_for,
    ranking_problem,
    variant_problems,
)
from drop.domain.lottery.drawing import (
    ALGORITHM,
    ALGORITHM_V1,
    SECRET_BYTES,
    DrawResult,
    FenwickTree,
    Participant,
    RandomStream,
    backup_count,
    commitment,
    derive_seed,
    draw,
    expected_counts,
    lottery_order,
    merkle_leaves,
    merkle_tree,
    new_secret_hex,
    order_participants,
)
from drop.domain.lottery.inclusion import InclusionProof, inclusion_at, inclusion_proof
from drop.domain.lottery.proof import DrawParameters, LotteryProof, allocate_sizes, run_draw
from drop.domain.lottery.verify import CHECKS, VerifyReport, check_proof, verify_proof

__all__ = [
    "ALGORITHM",
    "ALGORITHM_V1",
    "CHECKS",
    "MAX_VARIANTS",
    "SECRET_BYTES",
    "Allocation",
    "DrawParameters",
    "DrawResult",
    "FenwickTree",
    "InclusionProof",
    "LotteryProof",
    "Participant",
    "RandomStream",
    "Variant",
    "VerifyReport",
    "allocate",
    "allocate_sizes",
    "backup_count",
    "check_proof",
    "check_ranking",
    "commitment",
    "derive_seed",
    "draw",
    "expected_counts",
    "inclusion_at",
    "inclusion_proof",
    "lottery_order",
    "merkle_leaves",
    "merkle_tree",
    "new_secret_hex",
    "next_backup_for",
    "order_participants",
    "ranking_problem",
    "run_draw",
    "variant_problems",
    "verify_proof",
]
