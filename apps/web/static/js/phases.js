// What a visitor sees for a drop's phase; mirrors apps/web/views.py so the first paint and
// the live page agree.

export const PHASE_LABELS = {
  upcoming: "Opens soon",
  registration: "Entries open",
  lottery: "Drawing",
  purchase: "Winners buying",
  completed: "Ended",
};

export function displayPhase(drop, now) {
  if (drop.phase === "registration" && now < (drop.registrationStart ?? 0)) return "upcoming";
  return drop.phase;
}

export function countdownFor(drop, now) {
  const phase = displayPhase(drop, now);
  const targets = {
    upcoming: ["Entries open in", drop.registrationStart],
    registration: ["Entries close in", drop.registrationEnd],
    purchase: ["Purchase window closes in", drop.purchaseEnd],
  };
  if (!(phase in targets)) {
    return { label: phase === "lottery" ? "Drawing winners now" : "This drop has ended", target: null };
  }
  const [label, target] = targets[phase];
  return { label, target: target ?? null };
}

export function stockText(drop) {
  const left = drop.inventory ?? 0;
  const total = drop.initialInventory ?? 0;
  return left !== total
    ? `${left.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} left`
    : `${total.toLocaleString("en-US")} available`;
}
