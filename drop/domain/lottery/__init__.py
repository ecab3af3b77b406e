"""The provably fair draw, in three rooms:

- :mod:`.drawing`: the algorithm itself (commitment, seed, random stream, weighted selection
  and the Merkle leaves it commits to);
- :mod:`.proof`: what a draw publishes (parameters, the lottery proof, inclusion proofs) and
  their wire forms;
- :mod:`.verify`: the named checks an outside verifier runs on a published proof.

The names below are the package's public surface, so callers need not know which room
holds what.
"""

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
    merkle_leaves,
    merkle_tree,
    new_secret_hex,
    order_participants,
)
from drop.domain.lottery.proof import (
    DrawParameters,
    InclusionProof,
    LotteryProof,
    inclusion_at,
    inclusion_proof,
    run_draw,
)
from drop.domain.lottery.verify import CHECKS, VerifyReport, check_proof, verify_proof

__all__ = [
    "ALGORITHM",
    "ALGORITHM_V1",
    "CHECKS",
    "SECRET_BYTES",
    "DrawParameters",
    "DrawResult",
    "FenwickTree",
    "InclusionProof",
    "LotteryProof",
    "Participant",
    "RandomStream",
    "VerifyReport",
    "backup_count",
    "check_proof",
    "commitment",
    "derive_seed",
    "draw",
    "expected_counts",
    "inclusion_at",
    "inclusion_proof",
    "merkle_leaves",
    "merkle_tree",
    "new_secret_hex",
    "order_participants",
    "run_draw",
    "verify_proof",
]
