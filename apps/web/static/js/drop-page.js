// The drop page: one controller holding the page's state, a `render()` that derives every
// visible thing from it, and actions that change it. Live data comes from the per-user event
// stream; answers to this page's own actions are applied at once without waiting for it.

import { api, ApiError, timedApi } from "./api.js";
import { BehaviorTracker } from "./behavior.js";
import { ServerClock } from "./clock.js";
import {
  formatClockTime, formatCount, formatDateTime, formatDuration, formatMoney, plural, setText,
} from "./format.js";
import { insideFence, locate } from "./geo.js";
import { attemptKey, claimSecret, fingerprint, settleAttempt, userId } from "./identity.js";
import { commitmentOf, leafText, randomnessOf, seedBeacon, seedOf, verifyInclusion } from "./merkle.js";
import { countdownFor, displayPhase, PHASE_LABELS, stockText } from "./phases.js";
import { proveWork } from "./pow.js";
import { entryBreakdown } from "./pricing.js";
import { WaitingRoom } from "./queue.js";
import { openStream, showStreamState } from "./sse.js";

const $ = (id) => document.getElementById(id);
const readJson = (id) => JSON.parse($(id).textContent);

const clock = new ServerClock(readJson("server-time"));
const behavior = new BehaviorTracker();
const me = userId();

const state = {
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

let powPromise = null;
let identity = null;
let room = null;
let stream = null;
let preparing = false;

// --- applying data ---------------------------------------------------------------------

function applyDrop(next, serverTime) {
  if (serverTime) clock.observe(serverTime);
  const current = state.drop;
  if (next.version != null && current.version != null && next.version < current.version) return;
  state.drop = { ...current, ...next };
  render();
}

function applyUser(next) {
  if (!next || (next.userId && next.userId !== me)) return;
  if (next.serverTime) clock.observe(next.serverTime);
  const current = state.user;
  if (current && next.version != null && current.version != null && next.version < current.version) return;
  state.user = { ...(current ?? {}), ...next };
  if (state.user.rolloverBalance != null) state.rollover = state.user.rolloverBalance;
  if (state.user.status !== "winner") state.checkout = null;
  render();
}

const registered = () => state.user && state.user.status !== "not_registered";

// --- deciding what the page shows ------------------------------------------------------

function breakdown() {
  const pricing = state.drop.ticketPricing ?? { priceUnit: 1, maxTickets: 10 };
  return entryBreakdown(state.tickets, state.rollover, pricing.priceUnit);
}

function entryLabel() {
  const { cost } = breakdown();
  return cost > 0 ? `Enter · pay ${formatMoney(cost)}` : "Enter free";
}

// Notes are live regions: they name a fixed time, never a ticking one (the clocks tick).
const localClock = (serverMs) => formatClockTime(serverMs - clock.offset);

/** Everything the journey panel shows, from the state. */
function journey(now) {
  const drop = state.drop;
  const phase = displayPhase(drop, now);
  const user = state.user;
  const status = user?.status ?? "not_registered";
  const view = {
    chip: null, chipTone: "neutral", label: "", enabled: false, action: null, note: "",
    queue: false, geo: false, tickets: false, pow: false, checkout: false,
  };
  if (!user) return { ...view, label: "Loading…" };
  if (status === "purchased") {
    return { ...view, chip: "PURCHASED", chipTone: "ok", label: "Purchased ✓",
      note: state.orderId ? `Order ${state.orderId} is confirmed.` : "Your order is confirmed." };
  }
  if (status === "winner") {
    const base = { ...view, chip: user.promoted ? "PROMOTED" : "WINNER", chipTone: "win" };
    const deadline = user.deadline ? ` Buy before ${localClock(user.deadline)}.` : "";
    if (state.checkout) return { ...base, checkout: true, note: "" };
    return { ...base, enabled: !state.busy, action: startPurchase,
      label: state.busy === "start" ? "Reserving…" : user.promoted ? "Promoted — purchase now" : "Complete purchase",
      note: `${user.promoted ? "A winner passed and you were next." : "You won!"}${deadline}` };
  }
  if (status === "backup_winner") {
    const ahead = user.backupsAhead > 0 ? ` ${plural(user.backupsAhead, "backup")} drawn ahead of you.` : "";
    return { ...view, chip: "WAITLIST", label: `On waitlist #${user.backupPosition ?? "?"}`,
      note: `If a winner lets their window lapse, you are promoted and get your own window to buy.${ahead}` };
  }
  if (status === "loser" || status === "expired") {
    const earned = user.rolloverEarned ?? 0;
    const credit = earned > 0
      ? `+${plural(earned, "rollover credit")} for your next drop (balance ${user.rolloverBalance ?? earned}).`
      : user.paidEntries > 0 && drop.phase !== "completed"
        ? `Your ${plural(user.paidEntries, "paid entry", "paid entries")} come back as rollover credits when the drop ends.`
        : "Better luck next drop.";
    return status === "loser"
      ? { ...view, chip: "NOT SELECTED", label: "Not selected this time", note: credit }
      : { ...view, chip: "WINDOW EXPIRED", chipTone: "warn", label: "Purchase window expired", note: credit };
  }
  if (status === "registered") {
    const base = { ...view, chip: "REGISTERED", chipTone: "ok" };
    const entry = `${plural(user.tickets, "ticket")}${user.effectiveTickets !== user.tickets ? ` (${user.effectiveTickets} in the draw)` : ""}`;
    const paid = user.cost > 0 ? ` Paid ${formatMoney(user.cost)}.` : "";
    const rolled = user.rolloverUsed > 0 ? ` ${plural(user.rolloverUsed, "rollover credit")} used.` : "";
    if (phase === "registration") {
      return { ...base, label: `Registered · ${plural(user.tickets, "ticket")}`,
        note: `You're in with ${entry}.${paid}${rolled} The draw runs ${formatDateTime(drop.registrationEnd - clock.offset)}.` };
    }
    return { ...base, label: "Drawing winners…", note: `You're in with ${entry}. Results arrive here live.` };
  }
  // Not registered.
  if (phase === "upcoming") {
    return { ...view, label: `Entries open in ${formatDuration(drop.registrationStart - now)}`,
      note: "Keep this page open: it unlocks by itself." };
  }
  if (phase !== "registration" || now >= drop.registrationEnd) {
    return { ...view, chip: "MISSED", label: "Entries closed",
      note: "You didn't enter this drop. New drops show up on the home page." };
  }
  return openEntry(view);
}

function openEntry(view) {
  const drop = state.drop;
  const base = { ...view, tickets: true, pow: true };
  const q = state.queue;
  const fence = drop.geoFence;
  const exclusive = fence && drop.geoFenceMode === "exclusive";
  base.geo = Boolean(fence);
  if (state.busy === "enter") return { ...base, label: "Entering…" };
  if (q.status === "joining" || q.status === "idle") return { ...base, queue: true, label: "Joining the waiting room…" };
  if (q.status === "waiting") {
    return { ...base, queue: true, label: `In the waiting room · #${q.position ?? "…"}`,
      note: "Choose your tickets while you wait — the button unlocks when it's your turn." };
  }
  if (q.status === "expired") {
    return { ...base, queue: true, enabled: true, action: () => room.join(),
      label: "Rejoin the waiting room", note: "Your turn came and went. Rejoin to get a new place." };
  }
  if (q.status === "error") {
    return { ...base, enabled: true, action: () => room.join(), label: "Try again", note: errorText(q.error) };
  }
  if (exclusive && state.geo.inside !== true) {
    const outside = state.geo.inside === false;
    return { ...base, enabled: !outside && state.geo.status !== "locating", action: shareLocation,
      label: outside ? `Only open inside ${fence.name ?? "the area"}` : "Share location to enter",
      note: state.error ? errorText(state.error) : `This drop is only open to people in ${fence.name ?? "the marked area"}.` };
  }
  const ready = q.status === "ready" && q.expiresAt ? ` Your turn: enter before ${localClock(q.expiresAt)}.` : "";
  return { ...base, enabled: true, action: enter, label: entryLabel(),
    note: state.error ? errorText(state.error) : `${plural(state.tickets, "ticket")}.${ready}` };
}

function errorText(error) {
  if (!error) return "";
  if (error instanceof ApiError && error.status === 429 && error.code !== "queue_token_not_ready") {
    return `Too many attempts — try again in ${error.retryAfter ?? 60} s.`;
  }
  return error.message ?? String(error);
}

// --- rendering -------------------------------------------------------------------------

function show(id, visible) {
  const el = $(id);
  if (el && el.hidden === visible) el.hidden = !visible;
}

function render() {
  const now = clock.now();
  const drop = state.drop;
  const phase = displayPhase(drop, now);
  $("drop").dataset.phase = phase;
  const badge = $("phase-badge");
  badge.dataset.phase = phase;
  setText(badge, PHASE_LABELS[phase] ?? phase);
  setText($("stat-participants"), formatCount(drop.participantCount));
  setText($("stat-tickets"), formatCount(drop.totalEffectiveTickets));
  setText($("stat-inventory"), `${drop.inventory} / ${drop.initialInventory}`);
  document.querySelectorAll("[data-field=stock]").forEach((el) => setText(el, stockText(drop)));
  setText($("stat-odds"), oddsText(now));
  setText($("stat-tier"), tierText());
  setText($("stat-rollover"), state.user || state.loyalty ? formatCount(state.rollover) : "—");
  renderClock(now);
  renderJourney(now);
}

function oddsText(now) {
  const drop = state.drop;
  const status = state.user?.status;
  if (status === "winner" || status === "purchased") return "Won";
  if (status === "loser" || status === "expired") return "Drawn";
  if (status === "backup_winner") return `Backup #${state.user.backupPosition}`;
  if (displayPhase(drop, now) !== "registration") return "—";
  const multiplier = state.loyalty?.multiplier ?? 1;
  const mine = registered() ? state.user.effectiveTickets : Math.floor(state.tickets * multiplier);
  const others = drop.totalEffectiveTickets - (registered() ? mine : 0);
  const people = drop.participantCount + (registered() ? 0 : 1);
  if (people <= drop.initialInventory) return "100%";
  const odds = Math.min(1, (drop.initialInventory * mine) / Math.max(1, others + mine));
  return `≈ ${(odds * 100).toFixed(odds < 0.1 ? 1 : 0)}%`;
}

function tierText() {
  const tier = state.user?.loyaltyTier ?? state.loyalty?.tier;
  if (!tier) return "—";
  const mult = state.user?.loyaltyMultiplier ?? state.loyalty?.multiplier ?? 1;
  return `${tier[0].toUpperCase()}${tier.slice(1)} ${Number(mult).toFixed(1)}×`;
}

function renderClock(now) {
  const drop = state.drop;
  const phase = displayPhase(drop, now);
  const { label, target } = countdownFor(drop, now);
  setText($("countdown-label"), label);
  const el = $("countdown");
  const words = phase === "lottery" ? "Drawing…" : drop.inventory === 0 ? "Sold out" : "Closed";
  el.dataset.state = target == null ? "text" : "clock";
  setText(el, target == null ? words : formatDuration(target - now));
  if (target != null) el.setAttribute("datetime", new Date(target).toISOString());
  const local = (ms) => formatDateTime(ms - clock.offset);
  const sub = {
    upcoming: () => `Entries open ${local(drop.registrationStart)}`,
    registration: () => `Draw at ${local(drop.registrationEnd)}`,
    lottery: () => "Entries are closed; winners are being drawn",
    purchase: () => `Purchase window ends ${local(drop.purchaseEnd)}`,
    completed: () => `Entries closed ${local(drop.registrationEnd)}`,
  }[phase];
  if (sub) setText($("countdown-sub"), sub());
}

function renderJourney(now) {
  const view = journey(now);
  const chip = $("status-chip");
  show("status-chip", Boolean(view.chip));
  if (view.chip) {
    setText(chip, view.chip);
    chip.dataset.tone = view.chipTone;
  }
  renderQueue(view.queue);
  renderGeo(view.geo);
  renderTickets(view.tickets);
  renderPow(view.pow);
  const button = $("action");
  show("action", !view.checkout);
  setText(button, view.label);
  button.disabled = !view.enabled;
  button.dataset.action = view.enabled ? "on" : "off";
  currentAction = view.action;
  setText($("action-note"), view.note);
  renderCheckout(view.checkout, now);
  const who = $("whoami");
  who.hidden = false;
  setText(who, `Entering as ${me}`);
  show("sign-out", hasSession());
}

let currentAction = null;

function renderQueue(visible) {
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

function renderGeo(visible) {
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

function renderTickets(visible) {
  show("ticket-box", visible);
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

function renderPow(visible) {
  show("pow-status", visible && state.pow.status !== "idle");
  const p = state.pow;
  const el = $("pow-status");
  el.dataset.state = p.status;
  setText($("pow-text"), p.status === "solving"
    ? `Checking your browser · ${Math.round(p.progress * 100)}%`
    : p.status === "solved" ? `Browser verified in ${(p.ms / 1000).toFixed(1)} s`
    : p.status === "error" ? "Browser check failed — it will retry when you enter." : "");
}

function renderCheckout(visible, now) {
  show("purchase-box", visible);
  if (!visible) return;
  const until = state.checkout.expiresAt ?? state.user?.deadline;
  setText($("purchase-deadline"), until ? formatDuration(until - now) : "—");
  const confirm = $("purchase-confirm");
  confirm.disabled = state.busy === "confirm";
  setText(confirm, state.busy === "confirm" ? "Confirming…" : "Confirm purchase");
}

// --- actions ---------------------------------------------------------------------------

function startPow() {
  state.pow = { status: "solving", progress: 0 };
  powPromise = proveWork((progress) => {
    state.pow.progress = progress;
    renderPow(true);
  }).then(
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

async function enter() {
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
    stream.reopen();
    refreshUser();
  } catch (error) {
    if (error instanceof ApiError && error.status < 500) settleAttempt(attempt);
    if (error instanceof ApiError && error.code === "already_registered" && error.data?.sessionIssued) {
      // Entered before (the answer got lost): the session is back, show the entry.
      room?.used();
      rememberSession();
      stream.reopen();
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

async function startPurchase() {
  state.busy = "start";
  state.error = null;
  render();
  try {
    const key = crypto.randomUUID();
    const answer = await asHolder(() => api(`/api/drop/${state.drop.dropId}/purchase/start`, {
      method: "POST",
      idempotencyKey: key,
      body: { userId: me },
    }));
    state.checkout = { purchaseToken: answer.purchaseToken, expiresAt: answer.expiresAt };
    state.busy = null;
    render();
    $("purchase-confirm").focus();
  } catch (error) {
    state.error = error;
    setText($("action-note"), errorText(error));
  } finally {
    state.busy = null;
    render();
  }
}

async function confirmPurchase() {
  if (!state.checkout) return;
  state.busy = "confirm";
  render();
  try {
    // The payment step would run here; the order is recorded when it succeeds.
    const key = crypto.randomUUID();
    const body = { userId: me, purchaseToken: state.checkout.purchaseToken };
    const answer = await asHolder(() => api(`/api/drop/${state.drop.dropId}/purchase`, {
      method: "POST",
      idempotencyKey: key,
      body,
    }));
    state.orderId = answer.orderId ?? null;
    state.checkout = null;
    applyUser({ status: "purchased", token: null });
    applyDrop({ inventory: answer.inventory, phase: answer.phase });
    $("action").focus();
  } catch (error) {
    state.checkout = null;
    state.error = error;
    refreshUser();
  } finally {
    state.busy = null;
    render();
    if (state.error) setText($("action-note"), errorText(state.error));
  }
}

async function shareLocation() {
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

// The session cookie is HttpOnly: remember here that this browser holds one, so visitors
// who never entered are not sent to /me just to be told 401.
const SESSION_KEY = "drop.session";
const hasSession = () => {
  try {
    return localStorage.getItem(SESSION_KEY) === me;
  } catch {
    return false;
  }
};
const rememberSession = () => {
  try {
    localStorage.setItem(SESSION_KEY, me);
  } catch {
    // Private mode: the page still works, it just asks the stream instead.
  }
};

// A session problem (expired, cleared, another user's cookie) is mended once by proving the
// claim with this browser's secret; then the call runs again.
const sessionProblem = (error) =>
  error instanceof ApiError && (error.status === 401 || error.code === "wrong_user");

async function recoverSession() {
  try {
    await api("/api/session/recover", {
      method: "POST",
      body: { userId: me, recoveryCode: claimSecret(me) },
    });
  } catch {
    return false;
  }
  rememberSession();
  stream?.reopen();
  return true;
}

// Ends this browser's session on the server (every replica refuses it at once). The claim
// secret stays, so entering or buying later signs this browser in again.
async function signOut() {
  try {
    await api("/api/session/logout", { method: "POST" });
  } catch {
    // Already over or unreachable: this page forgets it either way.
  }
  try {
    localStorage.removeItem(SESSION_KEY);
  } catch {
    // Private mode: nothing was remembered.
  }
  stream?.reopen();
  render();
}

async function asHolder(call) {
  try {
    return await call();
  } catch (error) {
    if (!sessionProblem(error) || !(await recoverSession())) throw error;
    return call();
  }
}

async function refreshUser() {
  if (!hasSession()) {
    if (!state.user) applyUser({ userId: me, status: "not_registered" });
    return;
  }
  try {
    applyUser(await asHolder(() => api(`/api/drop/${state.drop.dropId}/me/${me}`)));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      if (!state.user) applyUser({ userId: me, status: "not_registered" });
    }
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

async function loadProofs() {
  const drop = state.drop;
  if (!["purchase", "completed"].includes(drop.phase) || state.proofsFor === drop.dropId) return;
  state.proofsFor = drop.dropId;
  try {
    const answer = await api(`/api/drop/${drop.dropId}/lottery-proof`);
    if (!answer.available) {
      state.proofsFor = null;
      return;
    }
    await showProof(answer.proof);
    if (registered()) await showInclusion(answer.proof);
  } catch {
    state.proofsFor = null;
  }
}

function check(el, ok, yes, no) {
  el.dataset.state = ok ? "ok" : "bad";
  setText(el, ok ? yes : no);
}

async function showProof(proof) {
  state.proof = proof;
  $("proof-pending").hidden = true;
  $("proof-box").hidden = false;
  setText($("proof-secret"), proof.secret);
  setText($("proof-root"), proof.participantMerkleRoot);
  setText($("proof-count"), formatCount(proof.participantCount));
  setText($("proof-seed"), proof.seed);
  setText($("proof-algorithm"), proof.algorithm);
  setText($("proof-time"), new Date(proof.timestamp).toLocaleString());
  setText($("proof-winners"), `${formatCount(proof.winners.length)} / ${formatCount(proof.backupWinners.length)}`);
  const commitmentOk = (await commitmentOf(proof.secret)) === state.drop.lotteryCommitment
    && proof.commitment === state.drop.lotteryCommitment;
  check($("proof-commitment-check"), commitmentOk, "Matches ✓ (checked in your browser)", "Does not match ✗");
  const seedOk = (await seedOf(proof.secret, proof.participantMerkleRoot, seedBeacon(proof))) === proof.seed;
  check($("proof-seed-check"), seedOk, "Yes ✓ (checked in your browser)", "No ✗");
  const broken = brokenPromise(state.drop.beacon, proof);
  if (broken) {
    const el = $("proof-beacon-status");
    check(el, false, "", `✗ ${broken}`);
    el.classList.add("check--alarm");
    return;
  }
  await showBeacon(proof.beacon);
}

// What the drop committed to at creation (its status's beacon block) that the proof does
// not honour, or null (the same checks as python -m drop.verify --drop).
function brokenPromise(committed, proof) {
  if (!committed) return null;
  const beacon = proof.beacon;
  if (!beacon || proof.algorithm !== (committed.algorithm ?? proof.algorithm)) {
    return `DOWNGRADE: the drop committed to beacon round ${committed.round}, `
      + `but this proof is ${proof.algorithm}${beacon ? "" : " without a beacon"}`;
  }
  if (beacon.round !== committed.round || beacon.chainHash !== committed.chainHash) {
    return `The proof uses round ${beacon.round}, not round ${committed.round} committed at creation`;
  }
  const wait = committed.maxWaitMs;
  if (beacon.status === "fallback" && wait != null && proof.timestamp < committed.roundTime + wait) {
    return `FORGED FALLBACK: drawn before round ${committed.round}'s time + the committed `
      + `${wait / 1000} s wait`;
  }
  return null;
}

// The public randomness the seed mixed in: verified (shown with its value), or a fallback
// that must never pass unnoticed.
async function showBeacon(beacon) {
  const el = $("proof-beacon-status");
  if (!beacon) {
    el.dataset.state = "bad";
    setText(el, "No beacon: this draw used only the secret and the entries");
    return;
  }
  if (beacon.status === "verified") {
    const ok = (await randomnessOf(beacon.signature)) === beacon.randomness;
    check(
      el,
      ok,
      `Verified ✓ round ${beacon.round}: randomness ${beacon.randomness.slice(0, 16)}… (signature checked by the server and python -m drop.verify)`,
      "✗ The beacon randomness is not sha256 of its signature",
    );
    return;
  }
  el.dataset.state = "bad";
  el.classList.add("check--alarm");
  setText(
    el,
    `⚠ FALLBACK: drawn WITHOUT the public beacon (round ${beacon.round} was not available in time). `
      + `The operator could have known this result in advance. Reason: ${beacon.reason}`,
  );
}

// The signed receipt of this browser's entry, kept so the published tree can be checked
// against what the service promised at registration (docs/fairness.md).
function receiptSlot() {
  return `drop-receipt:${state.drop.dropId}:${me}`;
}

function keepReceipt(receipt) {
  if (!receipt) return;
  try {
    localStorage.setItem(receiptSlot(), JSON.stringify(receipt));
  } catch {
    // storage full or disabled: the entry still counts, only the later check is lost
  }
}

function keptReceipt() {
  try {
    return JSON.parse(localStorage.getItem(receiptSlot()) ?? "null");
  } catch {
    return null;
  }
}

function showReceipt(receipt, inclusion, proof) {
  const el = $("receipt-status");
  if (!receipt) {
    el.dataset.state = "pending";
    setText(el, "No receipt kept in this browser");
    return;
  }
  // The key committed at creation decides; a proof that publishes another was swapped.
  const trusted = state.drop.beacon?.receiptKey ?? proof.receiptKey;
  const swapped = Boolean(trusted && proof.receiptKey && proof.receiptKey.keyId !== trusted.keyId);
  const sameKey = !trusted || trusted.keyId === receipt.keyId;
  const inTree = inclusion?.ok
    && `${inclusion.leaf.userId}:${inclusion.leaf.effectiveTickets}` === receipt.leaf;
  const good = inTree && sameKey && !swapped;
  check(
    el,
    good,
    "Your entry is in the tree ✓ (matches your signed receipt)",
    [
      swapped ? "⚠ The proof's receipt key was swapped: it is not the key the drop committed to." : "",
      inTree && sameKey ? "" : "⚠ Your signed receipt is NOT in the published tree.",
      "Keep it: it is evidence (python -m drop.verify proof.json --receipt receipt.json --drop status.json)",
    ].filter(Boolean).join(" "),
  );
  el.classList.toggle("check--alarm", !good);
}

async function showInclusion(proof) {
  const answer = await api(`/api/drop/${state.drop.dropId}/inclusion-proof/${me}`);
  const receipt = keptReceipt();
  if (!answer.available) {
    if (!receipt) return;
    $("inclusion-box").hidden = false;
    setText($("inclusion-leaf"), receipt.leaf);
    setText($("inclusion-steps"), "none: the tree has no leaf for you");
    check($("inclusion-status"), false, "", "Not in the tree ✗");
    showReceipt(receipt, null, proof);
    return;
  }
  const inclusion = answer.proof;
  $("inclusion-box").hidden = false;
  setText($("inclusion-leaf"), leafText(inclusion.leaf));
  setText($("inclusion-steps"), `${plural(inclusion.proof.length, "hash", "hashes")} up to the root`);
  const ok = inclusion.merkleRoot === proof.participantMerkleRoot
    && (await verifyInclusion(inclusion, proof.participantMerkleRoot));
  state.inclusion = { ...inclusion, ok };
  check($("inclusion-status"), ok, "Verified in your browser ✓", "Verification failed ✗");
  showReceipt(receipt, state.inclusion, proof);
}

function startStream() {
  const live = $("live-status");
  stream = openStream(`/events/${state.drop.dropId}/${me}`, {
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
  }, (s) => showStreamState(live, s));
}

function bindControls() {
  $("action").addEventListener("click", () => currentAction?.());
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

async function prepareEntry() {
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
  startPow();
  room.join();
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
    if (!preparing && state.user && displayPhase(state.drop, now) === "registration") prepareEntry();
  }, 250);
  // Phases that change by the clock (upcoming → open → closed) re-render once a second.
  setInterval(render, 1000);
  prepareEntry();
}

main();
