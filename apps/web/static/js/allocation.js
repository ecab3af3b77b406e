// The allocation of a drop with sizes, recomputed in the browser from its published proof.
// Mirrors drop/domain/lottery/drawing.py (the seeded weighted lottery order) and
// drop/domain/lottery/allocation.py (walk the order; each entrant gets the first size they
// ranked still in stock; backups are those passed over, then the next in the order), and
// names each difference in the words python -m drop.verify uses.

import { concat, hexToBytes, sha256 } from "./hash.js";

// Counter-mode SHA-256 bytes: block i is sha256(seed || i as 8-byte big endian).
class RandomStream {
  constructor(seedHex) {
    this.seed = hexToBytes(seedHex);
    if (this.seed.length !== 32) throw new Error("the seed is not 32 bytes");
    this.counter = 0n;
    this.buffer = new Uint8Array(0);
  }

  async read(count) {
    while (this.buffer.length < count) {
      const block = new Uint8Array(8);
      new DataView(block.buffer).setBigUint64(0, this.counter);
      this.counter += 1n;
      this.buffer = concat(this.buffer, await sha256(concat(this.seed, block)));
    }
    const out = this.buffer.slice(0, count);
    this.buffer = this.buffer.slice(count);
    return out;
  }

  // A uniform integer in [0, n) by rejection sampling on the low bits (no modulo bias).
  async below(n) {
    const bits = BigInt(n - 1).toString(2).length - (n === 1 ? 1 : 0);
    if (bits === 0) return 0;
    const mask = (1n << BigInt(bits)) - 1n;
    for (;;) {
      const bytes = await this.read(Math.ceil(bits / 8));
      const value = bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n) & mask;
      if (value < BigInt(n)) return Number(value);
    }
  }
}

// Prefix sums over the weights, to find who holds a ticket number and to take them out.
class FenwickTree {
  constructor(weights) {
    this.size = weights.length;
    this.tree = [0, ...weights];
    for (let i = 1; i <= this.size; i += 1) {
      const parent = i + (i & -i);
      if (parent <= this.size) this.tree[parent] += this.tree[i];
    }
    this.total = weights.reduce((a, b) => a + b, 0);
    this.top = this.size ? 2 ** this.size.toString(2).length : 0;
  }

  update(i, delta) {
    this.total += delta;
    for (let at = i + 1; at <= this.size; at += at & -at) this.tree[at] += delta;
  }

  find(target) {
    let pos = 0;
    for (let step = this.top; step; step = Math.floor(step / 2)) {
      const next = pos + step;
      if (next <= this.size && this.tree[next] <= target) {
        pos = next;
        target -= this.tree[next];
      }
    }
    return pos;
  }
}

// The seeded weighted order, lazily: indices into the participants (canonical order).
async function* lotteryOrder(participants, seedHex) {
  const weights = participants.map((p) => p.effectiveTickets);
  const tree = new FenwickTree(weights);
  const stream = new RandomStream(seedHex);
  const picks = weights.filter((w) => w > 0).length;
  for (let n = 0; n < picks; n += 1) {
    const index = tree.find(await stream.below(tree.total));
    tree.update(index, -weights[index]);
    yield index;
  }
}

// ceil(winners × multiplier) − winners, capped by the others, with the multiplier taken
// exactly as its shortest decimal form (as Python's Fraction(repr(float)) does).
export function backupCount(winners, participants, multiplier) {
  const [digits, exponent = "0"] = String(multiplier).toLowerCase().split("e");
  const [whole, fraction = ""] = digits.split(".");
  let num = BigInt(whole + fraction) * BigInt(winners);
  let den = 10n ** BigInt(fraction.length);
  const shift = Number(exponent);
  if (shift >= 0) num *= 10n ** BigInt(shift);
  else den *= 10n ** BigInt(-shift);
  const ceil = Number((num + den - 1n) / den);
  return Math.max(0, Math.min(participants - winners, ceil - winners));
}

/** Winners, backups and each one's size, recomputed from a proof with its participants. */
export async function allocate(proof) {
  const people = [...proof.participants].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const left = new Map(proof.variants.map((v) => [v.id, v.inventory]));
  let remaining = [...left.values()].reduce((a, b) => a + b, 0);
  const order = lotteryOrder(people, proof.seed.toLowerCase());
  const winners = [];
  const passed = [];
  const given = new Map();
  let step = await order.next();
  for (; !step.done && remaining > 0; step = await order.next()) {
    const person = people[step.value];
    const size = (person.variants ?? []).find((v) => (left.get(v) ?? 0) > 0);
    if (size === undefined) {
      passed.push(person);
      continue;
    }
    left.set(size, left.get(size) - 1);
    remaining -= 1;
    winners.push(person.userId);
    given.set(person.userId, size);
  }
  const wanted = backupCount(winners.length, people.length, proof.backupMultiplier);
  const backups = passed.slice(0, wanted);
  for (; !step.done && backups.length < wanted; step = await order.next()) backups.push(people[step.value]);
  for (const person of backups) given.set(person.userId, person.variants[0]);
  return { winners, backups: backups.map((p) => p.userId), given };
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Every difference between the published allocation and its recomputation, in words. */
export async function allocationProblems(proof) {
  const unranked = proof.participants.find((p) => !p.variants?.length);
  if (unranked) return [`The allocation cannot be recomputed: ${unranked.userId} has no ranked list.`];
  const sized = await allocate(proof);
  const problems = [];
  if (!same(sized.winners, proof.winners)) {
    problems.push("The winners recomputed by walking the lottery order over the variants do not match the published ones.");
  }
  if (!same(sized.backups, proof.backupWinners)) {
    problems.push("The backups recomputed by walking the lottery order over the variants do not match the published ones.");
  }
  const published = proof.allocation ?? {};
  const users = [...new Set([...sized.given.keys(), ...Object.keys(published)])].sort();
  for (const user of users) {
    const claimed = published[user];
    const given = sized.given.get(user);
    if (claimed !== given) {
      problems.push(`The allocation gives ${user} ${claimed || "nothing"}; the recomputation gives ${given || "nothing"}.`);
    }
  }
  return problems;
}
