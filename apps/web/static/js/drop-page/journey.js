// The journey panel: what this visitor can do now (enter, wait, buy, or read the outcome),
// decided from the state, with the one action button and its note.

import { formatDateTime, formatDuration, formatMoney, plural, setText } from "../format.js";
import { displayPhase } from "../phases.js";
import { renderCheckout, startPurchase } from "./checkout.js";
import {
  breakdown, enter, joinRoom, renderGeo, renderPow, renderQueue, renderTickets, shareLocation,
} from "./entry.js";
import { $, clock, errorText, localClock, me, show, state } from "./page.js";
import { hasSession } from "./session.js";

let currentAction = null;

// The action the button stands for now (set by each render).
export const runAction = () => currentAction?.();

function entryLabel() {
  const { cost } = breakdown();
  return cost > 0 ? `Enter · pay ${formatMoney(cost)}` : "Enter free";
}

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
  const size = sizeOf(user);
  if (status === "purchased") {
    return { ...view, chip: "PURCHASED", chipTone: "ok", label: `Purchased ✓${size ? ` · size ${size}` : ""}`,
      note: state.orderId ? `Order ${state.orderId}${size ? ` (size ${size})` : ""} is confirmed.` : "Your order is confirmed." };
  }
  if (status === "winner") {
    const base = { ...view, chip: user.promoted ? "PROMOTED" : "WINNER", chipTone: "win" };
    const deadline = user.deadline ? ` Buy before ${localClock(user.deadline)}.` : "";
    if (state.checkout) return { ...base, checkout: true, note: "" };
    return { ...base, enabled: !state.busy, action: startPurchase,
      label: state.busy === "start" ? "Reserving…" : user.promoted ? "Promoted — purchase now" : "Complete purchase",
      note: `${user.promoted ? "A winner passed and you were next." : "You won!"}${size ? ` Your size: ${size}.` : ""}${deadline}` };
  }
  if (status === "backup_winner") {
    const ahead = user.backupsAhead > 0 ? ` ${plural(user.backupsAhead, "backup")} drawn ahead of you.` : "";
    return { ...view, chip: "WAITLIST", label: `On waitlist #${user.backupPosition ?? "?"}`,
      note: `If a winner${size ? " of a size you ranked" : ""} lets their window lapse, you are promoted and get your own window to buy.${ahead}` };
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
    return { ...base, queue: true, enabled: true, action: joinRoom,
      label: "Rejoin the waiting room", note: "Your turn came and went. Rejoin to get a new place." };
  }
  if (q.status === "error") {
    return { ...base, enabled: true, action: joinRoom, label: "Try again", note: errorText(q.error) };
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

export function renderJourney(now) {
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

// The label of the size a winner, backup or buyer was given (drops with sizes only).
function sizeOf(user) {
  if (!user.variant) return "";
  const found = (state.drop.variants ?? []).find((v) => v.id === user.variant);
  return found?.label || user.variant;
}
