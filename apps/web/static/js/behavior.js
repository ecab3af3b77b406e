// Interaction signals sent with queue heartbeats and the entry: counts of what a person does,
// and how irregular the gaps between their actions are (scripts tick like clocks).

const MIN_GAP_MS = 30; // a burst of mousemove events is one gesture
const KEEP_GAPS = 60;

export class BehaviorTracker {
  constructor(target = window) {
    this.startedAt = performance.now();
    this.counts = { mouseMoves: 0, scrolls: 0, keyPresses: 0, focusChanges: 0, visibilityChanges: 0 };
    this.gaps = [];
    this.last = null;
    const on = (type, key, node = target) =>
      node.addEventListener(type, () => this.record(key), { passive: true, capture: true });
    on("mousemove", "mouseMoves");
    on("pointermove", null);
    on("touchmove", "scrolls");
    on("scroll", "scrolls");
    on("wheel", "scrolls");
    on("keydown", "keyPresses");
    on("focus", "focusChanges");
    on("blur", "focusChanges");
    on("visibilitychange", "visibilityChanges", document);
    on("click", null);
  }

  record(key) {
    if (key) this.counts[key] += 1;
    const now = performance.now();
    if (this.last != null && now - this.last >= MIN_GAP_MS) {
      this.gaps.push(now - this.last);
      if (this.gaps.length > KEEP_GAPS) this.gaps.shift();
    }
    if (this.last == null || now - this.last >= MIN_GAP_MS) this.last = now;
  }

  /** Coefficient of variation of the gaps, clamped to 0..1. */
  variance() {
    if (this.gaps.length < 3) return 0;
    const mean = this.gaps.reduce((a, b) => a + b, 0) / this.gaps.length;
    const sd = Math.sqrt(this.gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / this.gaps.length);
    return Math.max(0, Math.min(1, sd / mean));
  }

  snapshot() {
    return {
      ...this.counts,
      timeOnPageMs: Math.round(performance.now() - this.startedAt),
      interactionVariance: Number(this.variance().toFixed(3)),
    };
  }
}
