// Take a proof-of-work challenge (the one the waiting room was handed, else a fresh one from
// the API) and solve it off the main thread.

import { api } from "./api.js";

/** Chance the search has succeeded after `tries` at this difficulty, as a progress hint. */
export const progressOf = (tries, difficulty) => 1 - Math.exp(-tries / 16 ** difficulty);

export function solveInWorker(challenge, difficulty, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./pow-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      if (data.type === "progress") {
        onProgress(progressOf(data.tries, difficulty));
        return;
      }
      worker.terminate();
      resolve(data);
    };
    worker.onerror = (error) => {
      worker.terminate();
      reject(error);
    };
    worker.postMessage({ challenge, difficulty });
  });
}

/**
 * `{challenge, nonce, difficulty, ms}` for `offered` (`{challenge, difficulty}` from a ready
 * queue answer) when given, else for a fresh challenge from the API.
 */
export async function proveWork(onProgress, offered = null) {
  const { challenge, difficulty } = offered ?? (await api("/api/pow/challenge"));
  const solved = await solveInWorker(challenge, difficulty, onProgress);
  return { challenge, difficulty, nonce: solved.nonce, ms: solved.ms, tries: solved.tries };
}
