// Formatting shared by every page: durations, money, counts.

const pad = (n) => String(n).padStart(2, "0");

/** `1d 02:03:04`, `02:03:04` or `03:04`, like the server's first paint. */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const clock = hours || days
    ? `${pad(hours)}:${pad(minutes)}:${pad(seconds)}`
    : `${pad(minutes)}:${pad(seconds)}`;
  return days ? `${days}d ${clock}` : clock;
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const count = new Intl.NumberFormat("en-US");

export const formatMoney = (amount) => money.format(amount);
export const formatCount = (n) => count.format(n ?? 0);

export function formatClockTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatDateTime(ms) {
  return new Date(ms).toLocaleString([], {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
}

export const plural = (n, one, many = `${one}s`) => `${formatCount(n)} ${n === 1 ? one : many}`;

/** Set text only when it changed, so live regions announce real changes only. */
export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}
