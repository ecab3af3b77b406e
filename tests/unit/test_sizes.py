"""Sizes (issue 23): the allocation by random serial dictatorship, its proof and verifier."""

import hashlib
import itertools
import json
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drop.domain import receipt_check, receipts
from drop.domain.errors import DomainError
from drop.domain.lottery import (
    Participant,
    Variant,
    allocate,
    allocate_sizes,
    check_ranking,
    inclusion_proof,
    merkle_tree,
    next_backup_for,
    order_participants,
    ranking_problem,
    run_draw,
    variant_problems,
    verify_proof,
)
from drop.domain.merkle import leaf_text

SECRET = "22" * 32
SIZES = ("S", "M", "L")


def _no_backups(_: int) -> int:
    return 0


def _walk(
    order: list[str], rankings: dict[str, tuple[str, ...]]
) -> list[tuple[str, tuple[str, ...]]]:
    return [(u, rankings[u]) for u in order]


def _all_rankings(sizes: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty ranked list of distinct sizes."""
    return [
        perm
        for n in range(1, len(sizes) + 1)
        for chosen in itertools.combinations(sizes, n)
        for perm in itertools.permutations(chosen)
    ]


RANKINGS = _all_rankings(SIZES)

instances = st.tuples(
    st.lists(st.sampled_from(RANKINGS), min_size=1, max_size=7),
    st.fixed_dictionaries({s: st.integers(0, 3) for s in SIZES}),
    st.randoms(use_true_random=False),
)


def _case(
    instance: tuple[list[tuple[str, ...]], dict[str, int], object],
) -> tuple[list[str], dict[str, tuple[str, ...]], dict[str, int]]:
    ranked, stock, rng = instance
    users = [f"u{i}" for i in range(len(ranked))]
    order = list(users)
    rng.shuffle(order)  # type: ignore[attr-defined]
    return order, dict(zip(users, ranked, strict=True)), stock


# --- allocation properties ---------------------------------------------------------------


@given(instances, st.integers(0, 5))
@settings(max_examples=300, deadline=None)
def test_never_oversold_and_every_winner_got_a_size_from_their_list(
    instance: tuple[list[tuple[str, ...]], dict[str, int], object], backups: int
) -> None:
    order, rankings, stock = _case(instance)
    result = allocate(_walk(order, rankings), stock, lambda _: backups)
    given_out = Counter(result.variant_of[u] for u in result.winners)
    for size, n in given_out.items():
        assert n <= stock[size]
    for user in result.winners:
        assert result.variant_of[user] in rankings[user]
    for user in result.backups:
        assert result.variant_of[user] == rankings[user][0]
    assert not set(result.winners) & set(result.backups)
    # Nobody who got nothing was passed over while a size they ranked still had stock.
    left = Counter(stock)
    left.subtract(given_out)
    losers = [u for u in order if u not in result.winners]
    assert all(left[s] == 0 for u in losers for s in rankings[u])
    assert len(result.backups) == min(backups, len(losers))


@given(instances)
@settings(max_examples=200, deadline=None)
def test_nobody_gains_by_misreporting(
    instance: tuple[list[tuple[str, ...]], dict[str, int], object],
) -> None:
    """For a fixed lottery order, no entrant gets a size they truly rank higher by sending
    any other ranked list (checked against every alternative)."""
    order, rankings, stock = _case(instance)
    truthful = allocate(_walk(order, rankings), stock, _no_backups).variant_of
    for user, truth in rankings.items():
        honest = truth.index(truthful[user]) if user in truthful else len(truth)
        for lie in RANKINGS:
            lied = {**rankings, user: lie}
            got = allocate(_walk(order, lied), stock, _no_backups).variant_of
            if got.get(user) in truth:
                assert truth.index(got[user]) >= honest, (user, truth, lie)


def test_walk_gives_first_ranked_size_with_stock_in_lottery_order() -> None:
    order = ["a", "b", "c", "d", "e", "f"]
    rankings = {
        "a": ("M",),
        "b": ("M", "L"),
        "c": ("M",),
        "d": ("L",),
        "e": ("S", "M"),
        "f": ("L", "M"),
    }
    result = allocate(_walk(order, rankings), {"M": 1, "L": 1}, lambda winners: winners)
    assert result.winners == ("a", "b")
    assert dict(result.variant_of) == {"a": "M", "b": "L", "c": "M", "d": "L"}
    # Passed over first (c, d), then the next in order; e ranked no size on sale at all.
    assert result.backups == ("c", "d")
    assert next_backup_for("L", result.backups, rankings, ()) == "d"
    assert next_backup_for("M", result.backups, rankings, ["c"]) is None


def test_bad_variants_and_rankings_are_named() -> None:
    assert variant_problems([]) == ["a drop has 1 to 50 variants, not 0"]
    many = [Variant(f"v{i}", "", 1) for i in range(51)]
    assert "not 51" in variant_problems(many)[0]
    assert variant_problems([Variant("S", "", 0)]) == ["variants with an inventory below 1: S"]
    assert variant_problems([Variant("S", "", 1)] * 2) == ["variant ids repeated: S"]
    assert ranking_problem([], SIZES) == "rank at least one variant"
    assert ranking_problem(["S", "S"], SIZES) == "variants ranked more than once: S"
    assert ranking_problem(["XL"], SIZES) == "unknown variants: XL"
    with pytest.raises(DomainError) as raised:
        check_ranking(["XL"], SIZES)
    assert raised.value.status == 400 and "variants" in raised.value.message


# --- the proof and its verifier -----------------------------------------------------------

VARIANTS = (Variant("S", "Small", 2), Variant("M", "Medium", 3), Variant("L", "Large", 1))


def _entrants(n: int) -> list[Participant]:
    out = []
    for i in range(n):
        digest = hashlib.sha256(f"rank-{i}".encode()).digest()
        ranking = RANKINGS[digest[0] % len(RANKINGS)]
        out.append(Participant(f"user{i:03d}", 1 + digest[1] % 5, ranking))
    return out


def _proof(n: int = 20, variants: tuple[Variant, ...] = VARIANTS):  # type: ignore[no-untyped-def]
    return run_draw(
        "jackets",
        SECRET,
        _entrants(n),
        sum(v.inventory for v in variants),
        1.5,
        2000,
        registration_start=0,
        registration_end=1000,
        variants=variants,
    )


def test_a_sized_draw_verifies_and_round_trips() -> None:
    proof = _proof()
    assert len(proof.winners) == 6
    assert set(proof.allocation) == set(proof.winners) | set(proof.backups)
    wire = proof.to_wire()
    assert json.loads(json.dumps(wire))["variants"][0] == {
        "id": "S",
        "label": "Small",
        "inventory": 2,
    }
    assert "variants" in json.loads(json.dumps(wire))["participants"][0]
    again = type(proof).from_wire(wire)
    assert again == proof
    report = verify_proof(again)
    assert report.ok, report.problems


def test_leaves_without_variants_are_unchanged() -> None:
    plain = [Participant("alice", 3), Participant("bob", 1)]
    assert leaf_text("alice", 3, 0) == "alice:3:0"
    assert leaf_text("alice", 3, 0, ("M", "L")) == "alice:3:0:M,L"
    expected = hashlib.sha256(b"\x00alice:3:0").hexdigest()
    assert merkle_tree(order_participants(plain))._levels[0][0].hex() == expected
    proof = run_draw("d", SECRET, plain, 1, 1.5, 2000, registration_end=1000)
    assert "variants" not in proof.to_wire() and "allocation" not in proof.to_wire()
    assert json.loads(json.dumps(proof.to_wire()))["participants"][0] == {
        "userId": "alice",
        "effectiveTickets": 3,
    }


def test_one_implicit_size_draws_like_a_drop_without_variants() -> None:
    people = [Participant(p.user_id, p.effective_tickets) for p in _entrants(30)]
    plain = run_draw("d", SECRET, people, 5, 1.5, 2000, registration_end=1000)
    ordered = order_participants(
        [Participant(p.user_id, p.effective_tickets, ("one",)) for p in people]
    )
    sized = allocate_sizes(ordered, plain.seed, [Variant("one", "", 5)], 1.5)
    assert (sized.winners, sized.backups) == (plain.winners, plain.backups)


def _problems(proof) -> str:  # type: ignore[no-untyped-def]
    report = verify_proof(proof)
    assert not report.ok
    return " ".join(report.problems)


def test_verifier_refuses_a_changed_ranking() -> None:
    proof = _proof()
    winner = proof.winners[0]
    people = tuple(
        replace(p, ranking=("L", "S", "M") if p.ranking != ("L", "S", "M") else ("S",))
        if p.user_id == winner
        else p
        for p in proof.participants
    )
    changed = replace(proof, participants=people)
    assert "Merkle root" in _problems(changed)


@given(st.integers(0, 2), st.sampled_from([-1, 1]))
@settings(max_examples=12, deadline=None)
def test_verifier_refuses_a_changed_inventory(which: int, delta: int) -> None:
    proof = _proof(30)
    sizes = list(proof.variants or ())
    if sizes[which].inventory + delta < 1:
        delta = 1
    sizes[which] = replace(sizes[which], inventory=sizes[which].inventory + delta)
    text = _problems(replace(proof, variants=tuple(sizes)))
    assert "inventory" in text


def test_verifier_refuses_a_changed_order_or_allocation() -> None:
    proof = _proof(30)
    swapped = (proof.winners[1], proof.winners[0], *proof.winners[2:])
    assert "winners recomputed" in _problems(replace(proof, winners=swapped))
    user = proof.winners[0]
    other = next(v.id for v in VARIANTS if v.id != proof.allocation[user])
    moved = {**proof.allocation, user: other}
    text = _problems(replace(proof, allocation=moved))
    assert f"gives {user} {other}" in text


def test_verifier_refuses_rankings_of_unknown_or_repeated_sizes() -> None:
    proof = _proof(10)
    people = list(proof.participants)
    people[0] = replace(people[0], ranking=("XL",))
    text = _problems(replace(proof, participants=tuple(people)))
    assert f"ranked list of {people[0].user_id}" in text and "unknown variants: XL" in text


def test_inclusion_proof_and_receipt_carry_the_ranking() -> None:
    proof = _proof(10)
    member = proof.participants[3]
    found = inclusion_proof(proof.participants, member.user_id)
    assert found is not None and found.verified()
    assert json.loads(json.dumps(found.to_wire()))["leaf"]["variants"] == list(member.ranking)
    signer = receipts.ReceiptSigner("33" * 32)
    receipt = signer.sign(
        "jackets", member.user_id, 1, member.effective_tickets, 500, member.ranking
    )
    assert receipt.leaf.endswith(":" + ",".join(member.ranking))
    proof = replace(proof, receipt_key=signer.key)
    verdict = receipt_check.check_receipt(proof, receipt)
    assert verdict.outcome is receipt_check.Outcome.INCLUDED, verdict.lines
    other = signer.sign("jackets", member.user_id, 1, member.effective_tickets, 500, ("M",))
    if member.ranking != ("M",):
        verdict = receipt_check.check_receipt(proof, other)
        assert verdict.outcome is receipt_check.Outcome.OMITTED
