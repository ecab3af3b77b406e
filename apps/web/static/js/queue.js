// The waiting room: join, follow the position live, send heartbeats with behaviour signals,
// and report when the token is ready (or expired). Status answers from heartbeats keep the
// page right even if the event stream is down. A ready answer carries a proof-of-work
// challenge (`powChallenge`), kept for the entry so it need not ask for one.

import { api } from "./api.js";
import { openStream } from "./sse.js";

const HEARTBEAT_MS = 10000;
// A challenge lives 5 minutes from its timestamp; one kept longer than this is not offered.
const CHALLENGE_KEPT_MS = 4 * 60 * 1000;

export class WaitingRoom {
  /**
   * `onChange(state)` gets `{status, token, position, estimatedWaitSeconds, expiresAt,
   * aheadOfYou, totalInQueue, queueEnabled, error}`; status is one of joining, waiting,
   * ready, used, expired, disabled, error.
   */
  constructor({ dropId, fingerprint, behavior, onChange }) {
    this.dropId = dropId;
    this.fingerprint = fingerprint;
    this.behavior = behavior;
    this.onChange = onChange;
    this.state = { status: "idle" };
    this.stream = null;
    this.timer = null;
    this.challenge = null;
  }

  /** Keep the challenge a ready answer carried, and give the rest of it on. */
  keepChallenge({ powChallenge, ...answer }) {
    if (powChallenge) this.challenge = { ...powChallenge, keptAt: performance.now() };
    return answer;
  }

  /** The challenge the waiting room was handed, once, while it is fresh; else null. */
  takeChallenge() {
    const kept = this.challenge;
    this.challenge = null;
    if (!kept || performance.now() - kept.keptAt > CHALLENGE_KEPT_MS) return null;
    const { keptAt, ...challenge } = kept;
    return challenge;
  }

  update(patch) {
    this.state = { ...this.state, ...patch };
    this.onChange(this.state);
  }

  async join() {
    this.stop();
    this.update({ status: "joining", error: null });
    let answer;
    try {
      answer = this.keepChallenge(await api(`/api/queue/${this.dropId}/join`, {
        method: "POST",
        body: { fingerprint: this.fingerprint },
      }));
    } catch (error) {
      this.update({ status: "error", error });
      return;
    }
    if (answer.queueEnabled === false) {
      this.update({ status: "disabled", queueEnabled: false, token: answer.token ?? null });
      return;
    }
    this.update({ ...answer, queueEnabled: true, status: answer.status ?? "waiting" });
    if (this.state.status === "waiting" || this.state.status === "ready") this.follow();
  }

  follow() {
    const { token } = this.state;
    this.stream = openStream(`/events/queue/${this.dropId}/${encodeURIComponent(token)}`, {
      queue_position: (data) => {
        if (this.state.status === "waiting") this.update(data);
      },
      queue_ready: (data) => this.update({ ...data, status: "ready", position: 0 }),
      queue_expired: () => this.expire(),
    });
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
  }

  async heartbeat() {
    if (!["waiting", "ready"].includes(this.state.status)) return;
    try {
      const answer = this.keepChallenge(await api(`/api/queue/${this.dropId}/heartbeat`, {
        method: "POST",
        body: { token: this.state.token, behaviorSignals: this.behavior.snapshot() },
      }));
      if (answer.status === "expired") this.expire();
      else if (answer.status && answer.status !== this.state.status) this.update(answer);
      else if (answer.status === "waiting") this.update(answer);
    } catch (error) {
      if (error.status === 404) this.expire();
    }
  }

  expire() {
    this.stop();
    this.update({ status: "expired" });
  }

  /** The token was spent on a registration: nothing more to follow. */
  used() {
    this.stop();
    this.update({ status: "used" });
  }

  stop() {
    this.stream?.close();
    this.stream = null;
    clearInterval(this.timer);
    this.timer = null;
  }

  get ready() {
    return this.state.status === "ready" || this.state.status === "disabled";
  }
}
