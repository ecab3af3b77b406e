// The entry panel: the waiting room, the geofence, the ticket picker and the browser check,
// and entering the draw with them.

import { api, ApiError } from "../api.js";
import { formatCount, formatDuration, formatMoney, setText } from "../format.js";
import { insideFence, locate } from "../geo.js";
import { attemptKey, claimSecret, fingerprint, settleAttempt } from "../identity.js";
import { proveWork } from "../pow.js";
import { entryBreakdown } from "../pricing.js";
import { WaitingRoom } from "../queue.js";
import { $, applyDrop, applyUser, behavior, clock, live, me, registered, render, show, state } from "./page.js";
import { keepReceipt } from "./proof-panel.js";
import { recoverSession, refreshUser, rememberSession } from "./session.js";

let powPromise = null;
let identity = null;
let room = null;
let preparing = false;

export const joinRoom = () => room.join();
export const isPreparing = () => preparing;

export function breakdown() {
  const pricing = state.drop.ticketPricing ?? { priceUnit: 1, maxTickets: 10 };
  return entryBreakdown(state.tickets, state.rollover, pricing.priceUnit);
}

export function renderQueue(visible) {
  show("queue-box", visible);
  if (!visible) return;
  const q = state.queue;
  const pos = q.status === "waiting" ? `#${formatCount(q.position ?? 0)}` : q.status === "ready" ? "Your turn" : "…";
  setText($("queue-position"), pos);
  const wait = q.estimatedWaitSeconds;
  const text = q.status === "waiting"
    ? `${q.aheadOfYou != null ? `${formatCount(q.aheadOfYou)} ahead of you. ` : ""}Estimated wait ${wait != null ? formatDuration(wait * 1000) : "—"}.`
    : q.status === "expired" ? "Your place expired." : "Holding your place…";
  setText($("queue-text"), text);
  const total = q.totalInQueue ?? (q.position ?? 0);
  const done = q.status === "ready" ? 1 : total > 0 ? 1 - (q.position ?? 0) / Math.max(total, 1) : 0.1;
  $("queue-meter").style.width = `${Math.round(Math.max(0.05, done) * 100)}%`;
}

export function renderGeo(visible) {
  show("geo-box", visible);
  if (!visible) return;
  const g = state.geo;
  const fence = state.drop.geoFence;
  const name = fence?.name ?? "the area";
  const bonus = state.drop.geoFenceBonusMultiplier ?? 1.5;
  const text = g.status === "locating" ? "Finding you…"
    : g.error ? g.error
    : g.inside === true ? `You're inside ${name}.${state.drop.geoFenceMode === "bonus" ? ` Your tickets count ${bonus}×.` : ""}`
    : g.inside === false ? `You're outside ${name}.`
    : state.drop.geoFenceMode === "bonus" ? `Optional: entries from ${name} count ${bonus}×.` : "";
  setText($("geo-status"), text);
  show("geo-button", g.inside == null && state.drop.geoFenceMode === "bonus");
}

// The sizes picked in the ranked picker, best first, each once (drops with sizes only).
export function rankedSizes() {
  const picked = [...document.querySelectorAll(".size-choice")].map((el) => el.value).filter(Boolean);
  return [...new Set(picked)];
}

export function renderTickets(visible) {
  show("ticket-box", visible);
  if (state.drop.variants && $("size-box")) show("size-box", visible);
  if (!visible) return;
  const b = breakdown();
  const max = state.drop.ticketPricing?.maxTickets ?? 10;
  const input = $("tickets");
  if (document.activeElement !== input) input.value = String(state.tickets);
  input.max = String(max);
  $("tickets-minus").disabled = state.tickets <= 1;
  $("tickets-plus").disabled = state.tickets >= max;
  setText($("cost-rollover"), String(b.rolloverUsed));
  setText($("cost-free"), String(b.freeUsed));
  setText($("cost-paid"), String(b.paidEntries));
  setText($("cost-total"), formatMoney(b.cost));
}

export function renderPow(visible) {
  show("pow-status", visible && state.pow.status !== "idle");
  const p = state.pow;
  const el = $("pow-status");
  el.dataset.state = p.status;
  setText($("pow-text"), p.status === "solving"
    ? `Checking your browser · ${Math.round(p.progress * 100)}%`
    : p.status === "solved" ? `Browser verified in ${(p.ms / 1000).toFixed(1)} s`
    : p.status === "error" ? "Browser check failed — it will retry when you enter." : "");
}

/** Solve `offered` (a challenge the waiting room was handed) or a fresh one. */
function startPow(offered = null) {
  state.pow = { status: "solving", progress: 0 };
  powPromise = proveWork((progress) => {
    state.pow.progress = progress;
    renderPow(true);
  }, offered).then(
    (solution) => {
      state.pow = { status: "solved", progress: 1, ms: solution.ms };
      render();
      return solution;
    },
    (error) => {
      state.pow = { status: "error", progress: 0 };
      render();
      throw error;
    },
  );
  powPromise.catch(() => {});
  render();
}

export async function enter() {
  state.busy = "enter";
  state.error = null;
  render();
  // Retries of this entry (after a timeout, a reload) send the same key: never two entries.
  const attempt = `register:${state.drop.dropId}:${me}`;
  try {
    let solution;
    try {
      solution = await powPromise;
    } catch {
      startPow();
      solution = await powPromise;
    }
    const answer = await api(`/api/drop/${state.drop.dropId}/register`, {
      method: "POST",
      idempotencyKey: attemptKey(attempt),
      claimSecret: claimSecret(me),
      body: {
        userId: me,
        tickets: state.tickets,
        botValidation: {
          fingerprint: identity.fingerprint,
          fingerprintConfidence: identity.confidence,
          timingMs: Math.round(performance.now()),
          powSolution: solution.nonce,
          powChallenge: solution.challenge,
        },
        queueToken: state.queue.token ?? undefined,
        behaviorSignals: behavior.snapshot(),
        location: state.geo.location ?? undefined,
        variants: state.drop.variants ? rankedSizes() : undefined,
        email: $("entry-email").value.trim() || undefined,
      },
    });
    settleAttempt(attempt);
    room.used();
    rememberSession();
    keepReceipt(answer.receipt);
    applyUser({
      status: "registered",
      tickets: answer.userTickets,
      effectiveTickets: answer.effectiveTickets,
      position: answer.position,
      rolloverUsed: answer.rolloverUsed,
      paidEntries: answer.paidEntries,
      cost: answer.cost,
      loyaltyTier: answer.loyaltyTier,
      loyaltyMultiplier: answer.loyaltyMultiplier,
    });
    applyDrop({ participantCount: answer.participantCount, totalTickets: answer.totalTickets });
    // The session cookie exists now: reconnect so the stream knows who is listening.
    live.stream.reopen();
    refreshUser();
  } catch (error) {
    if (error instanceof ApiError && error.status < 500) settleAttempt(attempt);
    if (error instanceof ApiError && error.code === "already_registered" && error.data?.sessionIssued) {
      // Entered before (the answer got lost): the session is back, show the entry.
      room?.used();
      rememberSession();
      live.stream.reopen();
      await refreshUser();
      return;
    }
    if (!(error instanceof ApiError) || error.status >= 500) {
      // The entry may have landed: the claim secret brings the session back to ask.
      if (await recoverSession()) await refreshUser();
      if (registered()) return;
    }
    state.error = error;
    const code = error instanceof ApiError ? error.code ?? "" : "";
    // A refused entry may have spent the challenge: always start a fresh proof.
    if (code.startsWith("pow_") || code === "bot_suspected" || code === "bot_validation_required") {
      startPow();
    }
    if (["queue_token_expired", "queue_token_used", "queue_token_invalid", "queue_token_wrong_drop"].includes(code)) {
      room.join();
    }
  } finally {
    state.busy = null;
    render();
  }
}

export async function shareLocation() {
  state.geo = { ...state.geo, status: "locating", error: null };
  render();
  try {
    const location = await locate();
    const inside = insideFence(state.drop.geoFence, location);
    state.geo = { status: "located", location, inside, error: null };
  } catch (error) {
    state.geo = { status: "error", location: null, inside: null, error: error.message };
  }
  render();
}

export async function prepareEntry() {
  const drop = state.drop;
  if (registered() || drop.phase !== "registration" || clock.now() >= drop.registrationEnd) return;
  if (preparing) return;
  preparing = true;
  identity = await fingerprint();
  room = new WaitingRoom({
    dropId: drop.dropId,
    fingerprint: identity.fingerprint,
    behavior,
    onChange: (q) => {
      state.queue = q;
      render();
    },
  });
  // The join's answer carries a challenge when it lets us in at once: solve that one rather
  // than ask for another (a waiting join has none, and the API is asked as before).
  await room.join();
  startPow(room.takeChallenge());
}
