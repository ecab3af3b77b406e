// The server's clock as seen from the browser. Every answer and event carries `serverTime`;
// each one is a sample of (server - local) and the offset is smoothed so countdowns neither
// jump nor drift when one sample arrives late.

const FAST_SAMPLES = 4; // the first few samples move the estimate quickly
const ALPHA_FAST = 0.5;
const ALPHA_SLOW = 0.15;

export class ServerClock {
  constructor(serverTime = null, receivedAt = Date.now()) {
    this.offset = 0;
    this.samples = 0;
    this.bestRtt = Infinity;
    if (Number.isFinite(serverTime)) this.observe(serverTime, null, receivedAt);
  }

  /**
   * One sample. With `sentAt` (a request's start, local ms) the midpoint of the round trip is
   * used; one-way samples (events) only ever lag, so they count less once a round trip exists.
   */
  observe(serverTime, sentAt = null, receivedAt = Date.now()) {
    if (!Number.isFinite(serverTime)) return;
    const roundTrip = sentAt == null ? null : receivedAt - sentAt;
    const sample = serverTime - (roundTrip == null ? receivedAt : sentAt + roundTrip / 2);
    if (this.samples === 0) {
      this.offset = sample;
    } else {
      let alpha = this.samples < FAST_SAMPLES ? ALPHA_FAST : ALPHA_SLOW;
      if (roundTrip != null && roundTrip <= this.bestRtt) alpha = Math.max(alpha, ALPHA_FAST);
      if (roundTrip == null && Number.isFinite(this.bestRtt)) alpha /= 2;
      this.offset += alpha * (sample - this.offset);
    }
    if (roundTrip != null) this.bestRtt = Math.min(this.bestRtt, roundTrip);
    this.samples += 1;
  }

  now() {
    return Date.now() + this.offset;
  }
}
