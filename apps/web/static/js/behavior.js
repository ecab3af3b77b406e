// Interaction signals sent with queue heartbeats and the entry (names in docs/contract.md,
// Registration): counts of what a person does, time on the page, and in
// `interactionPatterns` (a JSON string) the gaps between their actions, whose irregularity
// the server scores (scripts tick like clocks).

const MIN_GAP_MS = 30; // a burst of mousemove events is one gesture
const KEEP_GAPS = 60;

export class BehaviorTracker {
  constructor(target = window) {
    this.startedAt = performance.now();
    this.counts = { mouseMovements: 0, scrollEvents: 0, keyPresses: 0, focusBlurEvents: 0, visibilityChanges: 0 };
    this.gaps = [];
    this.last = null;
    const on = (type, key, node = target) =>
      node.addEventListener(type, () => this.record(key), { passive: true, capture: true });
    on("mousemove", "mouseMovements");
    on("pointermove", null);
    on("touchmove", "scrollEvents");
    on("scroll", "scrollEvents");
    on("wheel", "scrollEvents");
    on("keydown", "keyPresses");
    on("focus", "focusBlurEvents");
    on("blur", "focusBlurEvents");
    on("visibilitychange", "visibilityChanges", document);
    on("click", null);
  }

  record(key) {
    if (key) this.counts[key] += 1;
    const now = performance.now();
    if (this.last != null && now - this.last >= MIN_GAP_MS) {
      this.gaps.push(Math.round(now - this.last));
      if (this.gaps.length > KEEP_GAPS) this.gaps.shift();
    }
    if (this.last == null || now - this.last >= MIN_GAP_MS) this.last = now;
  }

  snapshot() {
    return {
      ...this.counts,
      timeOnPage: Math.round(performance.now() - this.startedAt),
      interactionPatterns: JSON.stringify({ intervals: this.gaps }),
    };
  }
}
