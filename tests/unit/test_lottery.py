import hashlib
import itertools
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drop.domain.lottery import (
    ALGORITHM_V1,
    DrawParameters,
    FenwickTree,
    InclusionProof,
    LotteryProof,
    Participant,
    RandomStream,
    backup_count,
    commitment,
    derive_seed,
    draw,
    expected_counts,
    inclusion_proof,
    merkle_leaves,
    merkle_tree,
    new_secret_hex,
    order_participants,
    run_draw,
    verify_proof,
)
from drop.domain.merkle import MerkleTree
from drop.domain.merkle import verify_proof as verify_merkle_proof

SECRET = "11" * 32


def _seed(i: int) -> str:
    return hashlib.sha256(f"seed-{i}".encode()).hexdigest()


def _people(weights: list[int]) -> list[Participant]:
    return [Participant(f"user{i:03d}", w) for i, w in enumerate(weights)]


participants_st = st.lists(st.integers(0, 20), min_size=0, max_size=40).map(_people)


# --- primitives -------------------------------------------------------------------------


def test_secret_and_commitment() -> None:
    secret = new_secret_hex(bytes(range(32)))
    assert secret == bytes(range(32)).hex()
    assert commitment(secret) == hashlib.sha256(bytes(range(32))).hexdigest()
    with pytest.raises(ValueError):
        new_secret_hex(b"short")


def test_seed_depends_on_secret_and_root() -> None:
    root = "22" * 32
    assert derive_seed(SECRET, root) != derive_seed("33" * 32, root)
    assert derive_seed(SECRET, root) != derive_seed(SECRET, "44" * 32)
    assert len(derive_seed(SECRET, root)) == 64


def test_stream_is_counter_mode_sha256() -> None:
    seed = _seed(0)
    stream = RandomStream(seed)
    raw = bytes.fromhex(seed)
    expected = b"".join(hashlib.sha256(raw + i.to_bytes(8, "big")).digest() for i in range(3))
    assert stream.read(10) + stream.read(50) + stream.read(36) == expected


def test_stream_rejects_short_seed() -> None:
    with pytest.raises(ValueError):
        RandomStream("abcd")


def test_next_below_is_deterministic_and_in_range() -> None:
    a, b = RandomStream(_seed(1)), RandomStream(_seed(1))
    for n in [1, 2, 3, 7, 255, 256, 257, 10**6, 2**70 + 3]:
        x = a.next_below(n)
        assert x == b.next_below(n)
        assert 0 <= x < n
    with pytest.raises(ValueError):
        a.next_below(0)


def test_next_below_is_roughly_uniform() -> None:
    stream = RandomStream(_seed(2))
    counts = Counter(stream.next_below(6) for _ in range(6000))
    assert set(counts) == set(range(6))
    assert all(850 < c < 1150 for c in counts.values())


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.data())
def test_fenwick_matches_naive_scan(weights: list[int], data: st.DataObject) -> None:
    tree = FenwickTree(weights)
    current = list(weights)
    for _ in range(5):
        total = sum(current)
        assert tree.total == total
        if total == 0:
            break
        target = data.draw(st.integers(0, total - 1))
        running, expected = 0, -1
        for i, w in enumerate(current):
            running += w
            if running > target:
                expected = i
                break
        assert tree.find(target) == expected
        i = data.draw(st.integers(0, len(current) - 1))
        tree.update(i, -current[i])
        current[i] = 0


def test_fenwick_rejects_out_of_range_target() -> None:
    with pytest.raises(ValueError):
        FenwickTree([1, 2]).find(3)


@pytest.mark.parametrize(
    ("winners", "participants", "multiplier", "expected"),
    [(100, 1000, 1.5, 50), (10, 12, 1.5, 2), (10, 10, 1.5, 0), (10, 100, 1.1, 1), (0, 5, 1.5, 0),
     (3, 100, 1.0, 0), (7, 100, 3.0, 14)],
)  # fmt: skip
def test_backup_count(winners: int, participants: int, multiplier: float, expected: int) -> None:
    assert backup_count(winners, participants, multiplier) == expected


def test_order_participants_sorts_and_rejects_duplicates() -> None:
    ps = [Participant("b", 1), Participant("a", 2), Participant("c", 3)]
    assert [p.user_id for p in order_participants(ps)] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        order_participants([Participant("a", 1), Participant("a", 2)])
    with pytest.raises(ValueError):
        order_participants([Participant("a", -1)])


# --- the draw ---------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(participants_st, st.integers(0, 30), st.integers(0, 30), st.integers(0, 10**6))
def test_draw_properties(ps: list[Participant], wc: int, bc: int, seed_index: int) -> None:
    ordered = order_participants(ps)
    result = draw(ordered, wc, bc, _seed(seed_index))
    picked = result.winners + result.backups
    eligible = {p.user_id for p in ordered if p.effective_tickets > 0}
    # Nobody wins twice, everyone picked is a participant with tickets.
    assert len(set(picked)) == len(picked)
    assert set(picked) <= eligible
    assert len(picked) == min(wc + bc, len(eligible))
    assert len(result.winners) == min(wc, len(eligible))
    # Same seed, same outcome.
    assert draw(ordered, wc, bc, _seed(seed_index)) == result


def test_zero_weight_never_wins() -> None:
    ps = order_participants([Participant("a", 0), Participant("b", 1), Participant("c", 0)])
    for i in range(50):
        assert draw(ps, 3, 0, _seed(i)).winners == ("b",)


def test_backups_continue_the_same_sequence() -> None:
    ps = order_participants(_people([3, 1, 4, 1, 5, 9, 2, 6]))
    both = draw(ps, 2, 3, _seed(7))
    all_winners = draw(ps, 5, 0, _seed(7))
    assert both.winners + both.backups == all_winners.winners


def test_selection_probability_matches_weights() -> None:
    ps = order_participants([Participant("light", 1), Participant("heavy", 3)])
    runs = 4000
    heavy = sum(draw(ps, 1, 0, _seed(i)).winners == ("heavy",) for i in range(runs))
    assert heavy / runs == pytest.approx(0.75, abs=0.03)


def test_more_tickets_never_lowers_chance() -> None:
    runs = 1500
    base = [2, 2, 2, 2, 2, 2]

    def win_rate(my_weight: int) -> float:
        ps = order_participants(_people([my_weight, *base]))
        return sum("user000" in draw(ps, 2, 0, _seed(i)).winners for i in range(runs)) / runs

    rates = [win_rate(w) for w in (1, 2, 5, 10)]
    tolerance = 0.03
    assert all(b >= a - tolerance for a, b in itertools.pairwise(rates))
    assert rates[-1] > rates[0] + 0.2


def test_golden_vector() -> None:
    # Pins the algorithm: a change here breaks every previously published proof.
    proof = run_draw("golden", SECRET, _people([1, 2, 3, 4, 5, 6, 7, 8]), 3, 1.5, 0)
    assert proof.algorithm == ALGORITHM_V1
    assert proof.merkle_root == GOLDEN_ROOT
    assert proof.seed == GOLDEN_SEED
    assert (proof.winners, proof.backups) == (GOLDEN_WINNERS, GOLDEN_BACKUPS)


GOLDEN_ROOT = "f433264db2edf3b0c313c0f9d2ab23e6c83b6f40e45a41e2c2ed9047fc957680"
GOLDEN_SEED = "d98dea20b9c43ef887f5a31d79df1e19628fe939710ab88d513b9385620b0abe"
GOLDEN_WINNERS = ("user004", "user007", "user005")
GOLDEN_BACKUPS = ("user006", "user002")


def _reference_draw(weights: list[int], picks: int, seed_hex: str) -> list[int]:
    """The documented algorithm written naively (linear scans), as an outside verifier would."""
    seed = bytes.fromhex(seed_hex)
    stream = b"".join(hashlib.sha256(seed + i.to_bytes(8, "big")).digest() for i in range(64))
    pos = 0
    remaining = list(weights)
    chosen: list[int] = []
    while len(chosen) < picks and sum(remaining) > 0:
        n = sum(remaining)
        bits = (n - 1).bit_length()
        size = (bits + 7) // 8
        while True:
            value = int.from_bytes(stream[pos : pos + size], "big") & ((1 << bits) - 1)
            pos += size
            if value < n:
                break
        running = 0
        for i, w in enumerate(remaining):
            running += w
            if running > value:
                chosen.append(i)
                remaining[i] = 0
                break
    return chosen


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=30), st.integers(0, 12), st.integers(0, 10**6))
def test_draw_matches_naive_reference(weights: list[int], picks: int, seed_index: int) -> None:
    ps = _people(weights)
    result = draw(ps, picks, 0, _seed(seed_index))
    assert list(result.winners) == [
        ps[i].user_id for i in _reference_draw(weights, picks, _seed(seed_index))
    ]


# --- run_draw and the published proof ---------------------------------------------------


def _proof() -> LotteryProof:
    ps = _people([5, 1, 0, 3, 10, 2, 2, 7, 1, 4])
    return run_draw("drop-1", SECRET, reversed(ps), 3, 1.5, 1_700_000_000_000)


def test_run_draw_builds_a_consistent_proof() -> None:
    proof = _proof()
    assert proof.commitment == commitment(SECRET)
    assert proof.participant_count == 10
    assert proof.total_effective_tickets == 35
    assert [p.user_id for p in proof.participants] == sorted(p.user_id for p in proof.participants)
    assert proof.seed == derive_seed(SECRET, proof.merkle_root)
    assert len(proof.winners) == 3
    assert len(proof.backups) == 2
    assert verify_proof(proof).ok


def test_run_draw_with_fewer_participants_than_inventory() -> None:
    proof = run_draw("d", SECRET, _people([1, 1]), 100, 1.5, 0)
    assert sorted(proof.winners) == ["user000", "user001"]
    assert proof.backups == ()
    assert verify_proof(proof).ok


def test_run_draw_without_participants() -> None:
    proof = run_draw("d", SECRET, [], 100, 1.5, 0)
    assert (proof.winners, proof.backups, proof.participant_count) == ((), (), 0)
    assert verify_proof(proof).ok


def test_wire_round_trip() -> None:
    proof = _proof()
    wire = proof.to_wire()
    assert set(wire) == {
        "dropId", "commitment", "secret", "participantMerkleRoot", "participantCount",
        "totalEffectiveTickets", "seed", "algorithm", "timestamp", "winners", "backupWinners",
        "participants", "inventory", "backupMultiplier", "registrationStart", "registrationEnd",
        "winnerCount", "backupCount", "receiptKey", "beacon",
    }  # fmt: skip
    assert (wire["inventory"], wire["winnerCount"], wire["backupCount"]) == (3, 3, 2)
    assert wire["participants"][0] == {"userId": "user000", "effectiveTickets": 5}  # type: ignore[index]
    assert LotteryProof.from_wire(wire) == proof


@pytest.mark.parametrize("key", ["dropId", "participantCount", "winners", "participants"])
def test_from_wire_rejects_bad_fields(key: str) -> None:
    wire = _proof().to_wire()
    wire[key] = None
    with pytest.raises(ValueError, match=key):
        LotteryProof.from_wire(wire)


def _tamperings() -> dict[str, LotteryProof]:
    p = _proof()
    other = next(x.user_id for x in p.participants if x.user_id not in p.winners + p.backups)
    tweaked = list(p.participants)
    tweaked[0] = replace(tweaked[0], effective_tickets=tweaked[0].effective_tickets + 1)
    return {
        "winner": replace(p, winners=(other, *p.winners[1:])),
        "winner order": replace(p, winners=tuple(reversed(p.winners))),
        "backup": replace(p, backups=(*p.backups[:-1], other)),
        "secret": replace(p, secret="22" * 32),
        "commitment": replace(p, commitment="00" * 32),
        "seed": replace(p, seed=_seed(99)),
        "root": replace(p, merkle_root="00" * 32),
        "tickets": replace(p, participants=tuple(tweaked)),
        "count": replace(p, participant_count=11),
        "total": replace(p, total_effective_tickets=36),
        "order": replace(p, participants=tuple(reversed(p.participants))),
        "algorithm": replace(p, algorithm="mt19937/v0"),
        "bad secret hex": replace(p, secret="zz"),
        "duplicate": replace(p, backups=(p.winners[0], *p.backups[1:])),
        "shortened": replace(
            p,
            winners=p.winners[:1],
            backups=(),
            parameters=replace(p.parameters, winner_count=1, backup_count=0),
        ),
        "padded": replace(p, backups=(*p.backups, other)),
        "inventory": replace(p, parameters=replace(p.parameters, inventory=2)),
        "early": replace(p, parameters=replace(p.parameters, registration_end=p.timestamp + 1)),
        "no parameters": replace(p, parameters=DrawParameters()),
    }


@pytest.mark.parametrize("name", sorted(_tamperings()))
def test_tampered_proof_fails(name: str) -> None:
    report = verify_proof(_tamperings()[name])
    assert not report.ok
    assert report.problems
    assert all(problem.endswith(".") for problem in report.problems)


def test_a_shortened_proof_is_named_as_such() -> None:
    p = _proof()
    cut = replace(
        p, winners=p.winners[:2], parameters=replace(p.parameters, winner_count=2, backup_count=2)
    )
    problems = verify_proof(cut).problems
    assert any("list of winners is shortened: 2 listed" in x for x in problems), problems
    assert any("declared number of winners is 2" in x for x in problems), problems


def test_a_padded_proof_is_named_as_such() -> None:
    p = _proof()
    extra = next(x.user_id for x in p.participants if x.user_id not in p.winners + p.backups)
    problems = verify_proof(replace(p, backups=(*p.backups, extra))).problems
    assert any("list of backups is padded: 3 listed" in x for x in problems), problems


def test_a_proof_without_its_parameters_is_refused() -> None:
    wire = _proof().to_wire()
    for key in ("inventory", "backupMultiplier", "winnerCount"):
        del wire[key]
    problems = verify_proof(LotteryProof.from_wire(wire)).problems
    assert any("inventory, backupMultiplier, winnerCount" in x for x in problems), problems


@pytest.mark.parametrize(
    ("inventory", "multiplier", "weights", "expected"),
    [
        (10, 1.1, [1] * 20, (10, 1)),  # 10 * 1.1 is exactly 11
        (3, 1.5, [1] * 10, (3, 2)),
        (100, 1.5, [1, 1], (2, 0)),
        (2, 2.0, [1, 0, 0, 1, 1], (2, 1)),  # zero weight never drawn
        (5, 1.5, [], (0, 0)),
    ],
)
def test_expected_counts(
    inventory: int, multiplier: float, weights: list[int], expected: tuple[int, int]
) -> None:
    assert expected_counts(inventory, multiplier, weights) == expected


def test_inclusion_proof_verifies() -> None:
    proof = _proof()
    ordered = list(proof.participants)
    for p in ordered:
        inc = inclusion_proof(ordered, p.user_id)
        assert inc is not None
        assert inc.root == proof.merkle_root
        assert inc.leaf_hash == merkle_leaves(ordered)[inc.index]
        assert verify_merkle_proof(inc.leaf_hash, inc.steps, proof.merkle_root)
        wire = inc.to_wire()
        assert wire["verified"] is True
        assert wire["leaf"] == {
            "userId": p.user_id,
            "effectiveTickets": p.effective_tickets,
            "index": inc.index,
        }
        assert wire["leafText"] == f"{p.user_id}:{p.effective_tickets}:{inc.index}"
        assert InclusionProof.from_wire(wire) == inc
    assert inclusion_proof(ordered, "nobody") is None


def _fold_as_a_browser_would(wire: dict[str, Any]) -> str:
    """The documented recipe, from the wire fields alone and hashlib only."""
    leaf = wire["leaf"]
    text = f"{leaf['userId']}:{leaf['effectiveTickets']}:{leaf['index']}"
    current = hashlib.sha256(b"\x00" + text.encode()).digest()
    assert current.hex() == wire["leafHash"]
    for sibling, side in zip(wire["proof"], wire["proofSides"], strict=True):
        pair = (
            bytes.fromhex(sibling) + current if side == "left" else current + bytes.fromhex(sibling)
        )
        current = hashlib.sha256(b"\x01" + pair).digest()
    return current.hex()


def test_inclusion_proof_wire_recomputes_to_the_published_root() -> None:
    proof = _proof()
    published = proof.to_wire()
    for p in proof.participants:
        inc = inclusion_proof(list(proof.participants), p.user_id)
        assert inc is not None
        wire = inc.to_wire()
        assert all(isinstance(h, str) and len(h) == 64 for h in wire["proof"])  # type: ignore[attr-defined]
        assert _fold_as_a_browser_would(wire) == published["participantMerkleRoot"]


def test_tampered_inclusion_proof_is_not_verified() -> None:
    proof = _proof()
    inc = inclusion_proof(list(proof.participants), proof.participants[3].user_id)
    assert inc is not None
    assert not replace(inc, effective_tickets=inc.effective_tickets + 1).verified()
    assert not replace(inc, index=inc.index + 1).verified()
    assert not replace(inc, root="00" * 32).verified()
    with pytest.raises(ValueError, match="proofSides"):
        InclusionProof.from_wire({**inc.to_wire(), "proofSides": None})


@settings(max_examples=30, deadline=None)
@given(participants_st)
def test_fast_tree_matches_public_leaves(ps: list[Participant]) -> None:
    ordered = order_participants(ps)
    assert merkle_tree(ordered).root == MerkleTree.from_leaf_hashes(merkle_leaves(ordered)).root
