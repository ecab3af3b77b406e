// The drop page: one controller holding the page's state (drop-page/page.js), a `render()`
// that derives every visible thing from it, panel by panel (drop-page/*.js), and actions that
// change it. Live data comes from the per-user event stream; answers to this page's own
// actions are applied at once without waiting for it.

import { api, timedApi } from "./api.js";
import { displayPhase } from "./phases.js";
import { openStream, showStreamState } from "./sse.js";
import { renderCheckout, confirmPurchase } from "./drop-page/checkout.js";
import { isPreparing, prepareEntry, shareLocation } from "./drop-page/entry.js";
import { renderJourney, runAction } from "./drop-page/journey.js";
import {
  $, applyDrop, applyUser, clock, live, me, registered, render, setRenderer, state,
} from "./drop-page/page.js";
import { loadProofs } from "./drop-page/proof-panel.js";
import { refreshUser, signOut } from "./drop-page/session.js";
import { renderClock, renderSummary } from "./drop-page/summary.js";

setRenderer(() => {
  const now = clock.now();
  renderSummary(now);
  renderClock(now);
  renderJourney(now);
});

// --- loading ---------------------------------------------------------------------------

async function refreshDrop() {
  try {
    const { data, sentAt, receivedAt } = await timedApi(`/api/drop/${state.drop.dropId}/status`);
    clock.observe(data.serverTime, sentAt, receivedAt);
    applyDrop(data);
  } catch {
    // The stream brings the state too; a failed refresh changes nothing on screen.
  }
}

async function loadAccount() {
  const [rollover, loyalty] = await Promise.allSettled([
    api(`/api/drop/rollover/${me}`),
    api(`/api/drop/loyalty/${me}`),
  ]);
  if (rollover.status === "fulfilled" && !registered()) state.rollover = rollover.value.balance ?? 0;
  if (loyalty.status === "fulfilled") state.loyalty = loyalty.value;
  render();
}

function startStream() {
  const status = $("live-status");
  live.stream = openStream(`/events/${state.drop.dropId}/${me}`, {
    connected: (data) => {
      applyDrop(data, data.serverTime);
      loadProofs();
    },
    drop: (data) => {
      applyDrop(data, data.serverTime);
      loadProofs();
    },
    user: (data) => {
      if (data.status === "not_registered" && registered()) return;
      applyUser(data);
      loadProofs();
    },
  }, (s) => showStreamState(status, s));
}

function bindControls() {
  $("action").addEventListener("click", runAction);
  $("purchase-confirm").addEventListener("click", confirmPurchase);
  $("sign-out").addEventListener("click", signOut);
  $("geo-button").addEventListener("click", shareLocation);
  const max = () => state.drop.ticketPricing?.maxTickets ?? 10;
  const setTickets = (n) => {
    state.tickets = Math.max(1, Math.min(max(), Number.isFinite(n) ? Math.round(n) : 1));
    render();
  };
  $("tickets-minus").addEventListener("click", () => setTickets(state.tickets - 1));
  $("tickets-plus").addEventListener("click", () => setTickets(state.tickets + 1));
  $("tickets").addEventListener("input", (e) => {
    const n = Number(e.target.value);
    if (e.target.value !== "" && Number.isFinite(n)) setTickets(n);
  });
  $("tickets").addEventListener("change", (e) => setTickets(Number(e.target.value)));
}

async function main() {
  bindControls();
  render();
  startStream();
  await Promise.all([refreshDrop(), refreshUser(), loadAccount()]);
  render();
  loadProofs();
  setInterval(() => {
    const now = clock.now();
    renderClock(now);
    if (state.checkout) renderCheckout(true, now);
    if (!isPreparing() && state.user && displayPhase(state.drop, now) === "registration") prepareEntry();
  }, 250);
  // Phases that change by the clock (upcoming → open → closed) re-render once a second.
  setInterval(render, 1000);
  prepareEntry();
}

main();
