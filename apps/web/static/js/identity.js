// Who this browser is: a user id kept on the device, and a device fingerprint for the bot
// checks. The fingerprint mixes stable browser traits with a random per-device id, so two
// people on identical machines do not collide in the waiting room's one-token-per-device rule.

import { sha256Hex, utf8 } from "./hash.js";

const USER_KEY = "drop.userId";
const DEVICE_KEY = "drop.deviceId";

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

export function userId() {
  return stored(USER_KEY, () => randomId("u_")).value;
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
