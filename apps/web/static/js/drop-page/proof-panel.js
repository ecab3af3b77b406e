// The fairness panel: the published lottery proof checked in the browser (commitment, seed,
// beacon, and what the drop committed to at creation), this browser's inclusion proof, and
// the signed entry receipt kept to hold the published tree to it.

import { allocationProblems } from "../allocation.js";
import { api } from "../api.js";
import { formatCount, plural, setText } from "../format.js";
import {
  commitmentOf, leafText, randomnessOf, receiptLeaf, seedBeacon, seedOf, verifyInclusion,
} from "../merkle.js";
import { $, me, registered, state } from "./page.js";

// Past this many entrants the page leaves recomputing the sizes to python -m drop.verify
// (the participant list it needs grows with every entry).
const SIZES_IN_BROWSER_MAX = 20000;

export async function loadProofs() {
  const drop = state.drop;
  if (!["purchase", "completed"].includes(drop.phase) || state.proofsFor === drop.dropId) return;
  state.proofsFor = drop.dropId;
  try {
    const sized = drop.variants && drop.participantCount <= SIZES_IN_BROWSER_MAX;
    const answer = await api(`/api/drop/${drop.dropId}/lottery-proof${sized ? "?participants=true" : ""}`);
    if (!answer.available) {
      state.proofsFor = null;
      return;
    }
    await showProof(answer.proof);
    if (drop.variants) await showSizes(answer.proof);
    if (registered()) await showInclusion(answer.proof);
  } catch {
    state.proofsFor = null;
  }
}

function check(el, ok, yes, no) {
  el.dataset.state = ok ? "ok" : "bad";
  setText(el, ok ? yes : no);
}

async function showProof(proof) {
  state.proof = proof;
  $("proof-pending").hidden = true;
  $("proof-box").hidden = false;
  setText($("proof-secret"), proof.secret);
  setText($("proof-root"), proof.participantMerkleRoot);
  setText($("proof-count"), formatCount(proof.participantCount));
  setText($("proof-seed"), proof.seed);
  setText($("proof-algorithm"), proof.algorithm);
  setText($("proof-time"), new Date(proof.timestamp).toLocaleString());
  setText($("proof-winners"), `${formatCount(proof.winners.length)} / ${formatCount(proof.backupWinners.length)}`);
  const commitmentOk = (await commitmentOf(proof.secret)) === state.drop.lotteryCommitment
    && proof.commitment === state.drop.lotteryCommitment;
  check($("proof-commitment-check"), commitmentOk, "Matches ✓ (checked in your browser)", "Does not match ✗");
  const seedOk = (await seedOf(proof.secret, proof.participantMerkleRoot, seedBeacon(proof))) === proof.seed;
  check($("proof-seed-check"), seedOk, "Yes ✓ (checked in your browser)", "No ✗");
  const broken = brokenPromise(state.drop.beacon, proof);
  if (broken) {
    const el = $("proof-beacon-status");
    check(el, false, "", `✗ ${broken}`);
    el.classList.add("check--alarm");
    return;
  }
  await showBeacon(proof.beacon);
}

// The sizes recomputed from the proof's seed, entrants, ranked lists and variants: every
// difference from the published winners, backups and allocation is named.
async function showSizes(proof) {
  const el = $("proof-sizes-check");
  if (!el) return;
  if (!proof.participants) {
    el.dataset.state = "pending";
    setText(el, "Too many entrants to recompute here: run python -m drop.verify on the proof");
    return;
  }
  const problems = await allocationProblems(proof);
  const sizes = plural(proof.variants.length, "size");
  check(el, !problems.length, `Recomputed ✓ over ${sizes} (checked in your browser)`, `✗ ${problems.join(" ")}`);
  el.classList.toggle("check--alarm", problems.length > 0);
}

// What the drop committed to at creation (its status's beacon block) that the proof does
// not honour, or null (the same checks as python -m drop.verify --drop).
function brokenPromise(committed, proof) {
  if (!committed) return null;
  const beacon = proof.beacon;
  if (!beacon || proof.algorithm !== (committed.algorithm ?? proof.algorithm)) {
    return `DOWNGRADE: the drop committed to beacon round ${committed.round}, `
      + `but this proof is ${proof.algorithm}${beacon ? "" : " without a beacon"}`;
  }
  if (beacon.round !== committed.round || beacon.chainHash !== committed.chainHash) {
    return `The proof uses round ${beacon.round}, not round ${committed.round} committed at creation`;
  }
  const wait = committed.maxWaitMs;
  if (beacon.status === "fallback" && wait != null && proof.timestamp < committed.roundTime + wait) {
    return `FORGED FALLBACK: drawn before round ${committed.round}'s time + the committed `
      + `${wait / 1000} s wait`;
  }
  return null;
}

// The public randomness the seed mixed in: verified (shown with its value), or a fallback
// that must never pass unnoticed.
async function showBeacon(beacon) {
  const el = $("proof-beacon-status");
  if (!beacon) {
    el.dataset.state = "bad";
    setText(el, "No beacon: this draw used only the secret and the entries");
    return;
  }
  if (beacon.status === "verified") {
    const ok = (await randomnessOf(beacon.signature)) === beacon.randomness;
    check(
      el,
      ok,
      `Verified ✓ round ${beacon.round}: randomness ${beacon.randomness.slice(0, 16)}… (signature checked by the server and python -m drop.verify)`,
      "✗ The beacon randomness is not sha256 of its signature",
    );
    return;
  }
  el.dataset.state = "bad";
  el.classList.add("check--alarm");
  setText(
    el,
    `⚠ FALLBACK: drawn WITHOUT the public beacon (round ${beacon.round} was not available in time). `
      + `The operator could have known this result in advance. Reason: ${beacon.reason}`,
  );
}

// The signed receipt of this browser's entry, kept so the published tree can be checked
// against what the service promised at registration (docs/fairness.md).
function receiptSlot() {
  return `drop-receipt:${state.drop.dropId}:${me}`;
}

export function keepReceipt(receipt) {
  if (!receipt) return;
  try {
    localStorage.setItem(receiptSlot(), JSON.stringify(receipt));
  } catch {
    // storage full or disabled: the entry still counts, only the later check is lost
  }
}

function keptReceipt() {
  try {
    return JSON.parse(localStorage.getItem(receiptSlot()) ?? "null");
  } catch {
    return null;
  }
}

function showReceipt(receipt, inclusion, proof) {
  const el = $("receipt-status");
  if (!receipt) {
    el.dataset.state = "pending";
    setText(el, "No receipt kept in this browser");
    return;
  }
  // The key committed at creation decides; a proof that publishes another was swapped.
  const trusted = state.drop.beacon?.receiptKey ?? proof.receiptKey;
  const swapped = Boolean(trusted && proof.receiptKey && proof.receiptKey.keyId !== trusted.keyId);
  const sameKey = !trusted || trusted.keyId === receipt.keyId;
  const inTree = inclusion?.ok && receiptLeaf(inclusion.leaf) === receipt.leaf;
  const good = inTree && sameKey && !swapped;
  check(
    el,
    good,
    "Your entry is in the tree ✓ (matches your signed receipt)",
    [
      swapped ? "⚠ The proof's receipt key was swapped: it is not the key the drop committed to." : "",
      inTree && sameKey ? "" : "⚠ Your signed receipt is NOT in the published tree.",
      "Keep it: it is evidence (python -m drop.verify proof.json --receipt receipt.json --drop status.json)",
    ].filter(Boolean).join(" "),
  );
  el.classList.toggle("check--alarm", !good);
}

async function showInclusion(proof) {
  const answer = await api(`/api/drop/${state.drop.dropId}/inclusion-proof/${me}`);
  const receipt = keptReceipt();
  if (!answer.available) {
    if (!receipt) return;
    $("inclusion-box").hidden = false;
    setText($("inclusion-leaf"), receipt.leaf);
    setText($("inclusion-steps"), "none: the tree has no leaf for you");
    check($("inclusion-status"), false, "", "Not in the tree ✗");
    showReceipt(receipt, null, proof);
    return;
  }
  const inclusion = answer.proof;
  $("inclusion-box").hidden = false;
  setText($("inclusion-leaf"), leafText(inclusion.leaf));
  setText($("inclusion-steps"), `${plural(inclusion.proof.length, "hash", "hashes")} up to the root`);
  const ok = inclusion.merkleRoot === proof.participantMerkleRoot
    && (await verifyInclusion(inclusion, proof.participantMerkleRoot));
  state.inclusion = { ...inclusion, ok };
  check($("inclusion-status"), ok, "Verified in your browser ✓", "Verification failed ✗");
  showReceipt(receipt, state.inclusion, proof);
}
