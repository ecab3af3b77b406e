// The checkout panel: a winner reserves the purchase, then confirms it before the window
// ends.

import { api } from "../api.js";
import { formatDuration, setText } from "../format.js";
import { $, applyDrop, applyUser, errorText, me, render, show, state } from "./page.js";
import { asHolder, refreshUser } from "./session.js";

export function renderCheckout(visible, now) {
  show("purchase-box", visible);
  if (!visible) return;
  const until = state.checkout.expiresAt ?? state.user?.deadline;
  setText($("purchase-deadline"), until ? formatDuration(until - now) : "—");
  const confirm = $("purchase-confirm");
  confirm.disabled = state.busy === "confirm";
  setText(confirm, state.busy === "confirm" ? "Confirming…" : "Confirm purchase");
}

export async function startPurchase() {
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

export async function confirmPurchase() {
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
