// The drop's summary: its phase, the stats (entrants, tickets, stock, odds, tier, rollover)
// and the countdown to the phase's end.

import { formatCount, formatDateTime, formatDuration, setText } from "../format.js";
import { countdownFor, displayPhase, PHASE_LABELS, stockText } from "../phases.js";
import { $, clock, registered, state } from "./page.js";

export function renderSummary(now) {
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

export function renderClock(now) {
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
