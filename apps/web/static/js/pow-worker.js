// Proof-of-work in a Web Worker: find a decimal nonce such that sha256(challenge + nonce)
// in hex starts with `difficulty` zeros. Digests are computed in batches so WebCrypto's
// promise overhead is amortised.

const BATCH = 512;
const encoder = new TextEncoder();

function hasZeroNibbles(bytes, nibbles) {
  const whole = nibbles >> 1;
  for (let i = 0; i < whole; i += 1) if (bytes[i] !== 0) return false;
  return nibbles % 2 === 0 || bytes[whole] < 16;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

self.onmessage = async (event) => {
  const { challenge, difficulty } = event.data;
  const started = performance.now();
  let lastReport = started;
  for (let base = 0; ; base += BATCH) {
    const jobs = [];
    for (let i = 0; i < BATCH; i += 1) {
      jobs.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge + (base + i))));
    }
    const digests = await Promise.all(jobs);
    for (let i = 0; i < BATCH; i += 1) {
      const bytes = new Uint8Array(digests[i]);
      if (hasZeroNibbles(bytes, difficulty)) {
        self.postMessage({
          type: "solved",
          nonce: String(base + i),
          hash: hex(bytes),
          tries: base + i + 1,
          ms: Math.round(performance.now() - started),
        });
        return;
      }
    }
    if (performance.now() - lastReport > 150) {
      lastReport = performance.now();
      self.postMessage({ type: "progress", tries: base + BATCH });
    }
  }
};
