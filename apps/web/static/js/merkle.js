// Check the draw in the browser: the commitment, the seed and a Merkle inclusion proof.
// Mirrors drop/domain/merkle.py and drop/domain/lottery/drawing.py: the leaf of a participant is
// sha256(0x00 || utf8("userId:effectiveTickets:index")), an inner node is
// sha256(0x01 || left || right); `proof` lists the sibling hashes from the leaf up and
// `proofSides` the side ("left" | "right") each sibling sits on.

import { bytesToHex, concat, hexToBytes, sha256, sha256Hex, utf8 } from "./hash.js";

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);
const SEED_DOMAIN = utf8("product-drop/seed/v1\u0000");
// v2 adds the committed beacon round's randomness (docs/fairness.md).
const SEED_DOMAIN_V2 = utf8("product-drop/seed/v2\u0000");

/** The committed text of a leaf `{userId, effectiveTickets, index}`; on a drop with sizes the
 * ranked variant ids follow (`:M,L`), as in drop/domain/merkle.py. */
export const leafText = (leaf) => `${leaf.userId}:${leaf.effectiveTickets}:${leaf.index}${ranked(leaf)}`;

/** What a signed receipt commits to: the leaf without its index. */
export const receiptLeaf = (leaf) => `${leaf.userId}:${leaf.effectiveTickets}${ranked(leaf)}`;

const ranked = (leaf) => (leaf.variants?.length ? `:${leaf.variants.join(",")}` : "");

export const leafHash = (text) => sha256Hex(concat(LEAF, utf8(text)));

/** Recompute the leaf from its fields and fold the proof up; true when it reaches `root`. */
export async function verifyInclusion(inclusion, root) {
  try {
    const hashes = inclusion.proof;
    const sides = inclusion.proofSides;
    if (!Array.isArray(hashes) || !Array.isArray(sides) || hashes.length !== sides.length) return false;
    if ((await leafHash(leafText(inclusion.leaf))) !== inclusion.leafHash) return false;
    let current = hexToBytes(inclusion.leafHash);
    for (let i = 0; i < hashes.length; i += 1) {
      const sibling = hexToBytes(hashes[i]);
      if (sibling.length !== 32) return false;
      if (sides[i] === "left") current = await sha256(concat(NODE, sibling, current));
      else if (sides[i] === "right") current = await sha256(concat(NODE, current, sibling));
      else return false;
    }
    return bytesToHex(current) === String(root).toLowerCase();
  } catch {
    return false;
  }
}

/** sha256(secret) — what was published before entries opened. */
export const commitmentOf = (secretHex) => sha256Hex(hexToBytes(secretHex));

/** sha256("product-drop/seed/v1" || 0x00 || secret || root). */
export const seedOf = (secretHex, rootHex, beaconHex = null) =>
  beaconHex === null
    ? sha256Hex(concat(SEED_DOMAIN, hexToBytes(secretHex), hexToBytes(rootHex)))
    : sha256Hex(concat(SEED_DOMAIN_V2, hexToBytes(secretHex), hexToBytes(rootHex), hexToBytes(beaconHex)));

/** The beacon bytes (hex) a proof's seed mixes in: null for v1, "" after a fallback. */
export function seedBeacon(proof) {
  if (!proof.beacon || proof.algorithm.endsWith("/v1")) return null;
  return proof.beacon.status === "verified" ? proof.beacon.randomness : "";
}

/** A drand round's randomness is sha256 of its signature (the BLS check is the verifier's). */
export const randomnessOf = (signatureHex) => sha256Hex(hexToBytes(signatureHex));
