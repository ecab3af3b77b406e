// What every panel of the drop page shares: the page's state, the server clock, who this
// browser is, and `render()`, which the entry module (drop-page.js) points at the page's
// whole render so panels can ask for one without importing it.

import { ApiError } from "../api.js";
import { BehaviorTracker } from "../behavior.js";
import { ServerClock } from "../clock.js";
import { formatClockTime } from "../format.js";
import { userId } from "../identity.js";

export const $ = (id) => document.getElementById(id);
const readJson = (id) => JSON.parse($(id).textContent);

export const clock = new ServerClock(readJson("server-time"));
export const behavior = new BehaviorTracker();
export const me = userId();

export const state = {
  drop: readJson("drop-data"),
  user: null, // UserState once known; null while loading
  rollover: 0,
  loyalty: null,
  tickets: 1,
  queue: { status: "idle" },
  pow: { status: "idle", progress: 0 },
  geo: { status: "idle", location: null, inside: null, error: null },
  busy: null, // "enter" | "start" | "confirm" while a request runs
  error: null,
  checkout: null, // {purchaseToken, expiresAt}
  orderId: null,
  proof: null,
  inclusion: null,
  proofsFor: null,
};

// The per-user event stream once open (drop-page.js opens it).
export const live = { stream: null };

let renderPage = () => {};
export const setRenderer = (fn) => {
  renderPage = fn;
};
export const render = () => renderPage();

// --- applying data ---------------------------------------------------------------------

export function applyDrop(next, serverTime) {
  if (serverTime) clock.observe(serverTime);
  const current = state.drop;
  if (next.version != null && current.version != null && next.version < current.version) return;
  state.drop = { ...current, ...next };
  render();
}

export function applyUser(next) {
  if (!next || (next.userId && next.userId !== me)) return;
  if (next.serverTime) clock.observe(next.serverTime);
  const current = state.user;
  if (current && next.version != null && current.version != null && next.version < current.version) return;
  state.user = { ...(current ?? {}), ...next };
  if (state.user.rolloverBalance != null) state.rollover = state.user.rolloverBalance;
  if (state.user.status !== "winner") state.checkout = null;
  render();
}

export const registered = () => state.user && state.user.status !== "not_registered";

// --- shared by the panels --------------------------------------------------------------

export function show(id, visible) {
  const el = $(id);
  if (el && el.hidden === visible) el.hidden = !visible;
}

// Notes are live regions: they name a fixed time, never a ticking one (the clocks tick).
export const localClock = (serverMs) => formatClockTime(serverMs - clock.offset);

export function errorText(error) {
  if (!error) return "";
  if (error instanceof ApiError && error.status === 429 && error.code !== "queue_token_not_ready") {
    return `Too many attempts — try again in ${error.retryAfter ?? 60} s.`;
  }
  return error.message ?? String(error);
}
