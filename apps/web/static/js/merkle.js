// Check the draw in the browser: the commitment, the seed and a Merkle inclusion proof.
// Mirrors drop/domain/merkle.py and drop/domain/lottery.py: leaf = sha256(0x00 || utf8(text)),
// node = sha256(0x01 || left || right), `side` is the side of the sibling.

import { bytesToHex, concat, hexToBytes, sha256, sha256Hex, utf8 } from "./hash.js";

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);
const SEED_DOMAIN = utf8("product-drop/seed/v1\u0000");

export const leafHash = (text) => sha256Hex(concat(LEAF, utf8(text)));

/** Fold the proof from the leaf up; true when it reaches `root`. */
export async function verifyInclusion(proof, root) {
  try {
    if ((await leafHash(proof.leaf)) !== proof.leafHash) return false;
    let current = hexToBytes(proof.leafHash);
    for (const step of proof.proof) {
      const sibling = hexToBytes(step.hash);
      if (sibling.length !== 32) return false;
      if (step.side === "left") current = await sha256(concat(NODE, sibling, current));
      else if (step.side === "right") current = await sha256(concat(NODE, current, sibling));
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
export const seedOf = (secretHex, rootHex) =>
  sha256Hex(concat(SEED_DOMAIN, hexToBytes(secretHex), hexToBytes(rootHex)));
