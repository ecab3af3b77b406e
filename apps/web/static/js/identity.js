// Who this browser is: a user id kept on the device, the secret that proves the id is ours,
// and a device fingerprint for the bot checks. The fingerprint mixes stable browser traits
// with a random per-device id, so two people on identical machines do not collide in the
// waiting room's one-token-per-device rule.

import { sha256Hex, utf8 } from "./hash.js";

const USER_KEY = "drop.userId";
const DEVICE_KEY = "drop.deviceId";
const CLAIM_KEY = "drop.claimSecret.";
const ATTEMPT_KEY = "drop.attempt.";

function randomId(prefix, bytes = 9) {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return prefix + Array.from(raw, (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");
}

function stored(key, make) {
  try {
    let value = localStorage.getItem(key);
    if (!value) {
      value = make();
      localStorage.setItem(key, value);
    }
    return { value, persistent: true };
  } catch {
    return { value: make(), persistent: false };
  }
}

let me = null;
const secrets = new Map();

export function userId() {
  me ??= stored(USER_KEY, () => randomId("u_")).value;
  return me;
}

function randomSecret() {
  const raw = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The claim secret of `user`: the first registration of the id binds it to this secret,
 * and only it (or the session it earns) lets this browser act as `user` again. */
export function claimSecret(user) {
  if (!secrets.has(user)) secrets.set(user, stored(CLAIM_KEY + user, randomSecret).value);
  return secrets.get(user);
}

function attempts() {
  try {
    return sessionStorage;
  } catch {
    return null;
  }
}

/** One Idempotency-Key per attempt (e.g. one drop's registration for one user), kept across
 * retries and reloads until `settleAttempt` says the answer was definite. */
export function attemptKey(scope) {
  const store = attempts();
  let key = store?.getItem(ATTEMPT_KEY + scope);
  if (!key) {
    key = crypto.randomUUID();
    try {
      store?.setItem(ATTEMPT_KEY + scope, key);
    } catch {
      // Storage full or off: the key still serves this page's own retries.
    }
  }
  return key;
}

export function settleAttempt(scope) {
  try {
    attempts()?.removeItem(ATTEMPT_KEY + scope);
  } catch {
    // Nothing kept, nothing to forget.
  }
}

function canvasTrait() {
  try {
    const canvas = document.createElement("canvas");
    canvas.width = 200;
    canvas.height = 40;
    const ctx = canvas.getContext("2d");
    ctx.textBaseline = "top";
    ctx.font = "16px sans-serif";
    ctx.fillStyle = "#f60";
    ctx.fillRect(0, 0, 100, 20);
    ctx.fillStyle = "#069";
    ctx.fillText("drop ✓ 1.0", 4, 4);
    return canvas.toDataURL();
  } catch {
    return "";
  }
}

/** `{fingerprint, confidence}`: confidence (0-100) grows with the number of traits available. */
export async function fingerprint() {
  const device = stored(DEVICE_KEY, () => randomId("d_", 12));
  const traits = {
    ua: navigator.userAgent,
    languages: (navigator.languages ?? []).join(","),
    platform: navigator.platform ?? "",
    cores: navigator.hardwareConcurrency ?? 0,
    memory: navigator.deviceMemory ?? 0,
    touch: navigator.maxTouchPoints ?? 0,
    screen: `${screen.width}x${screen.height}x${screen.colorDepth}@${devicePixelRatio}`,
    zone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? "",
    canvas: canvasTrait(),
    device: device.value,
  };
  const present = [traits.languages, traits.cores, traits.screen, traits.zone, traits.canvas]
    .filter(Boolean).length;
  const confidence = Math.min(95, 45 + 8 * present + (device.persistent ? 10 : 0));
  const digest = await sha256Hex(utf8(JSON.stringify(traits)));
  return { fingerprint: digest.slice(0, 40), confidence };
}
