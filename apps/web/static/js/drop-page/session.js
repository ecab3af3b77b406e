// Who this browser is to the server: the session it holds, mended with the claim secret
// when it lapses, ended on request, and the user's own status read with it.

import { api, ApiError } from "../api.js";
import { claimSecret } from "../identity.js";
import { applyUser, live, me, render, state } from "./page.js";

// The session cookie is HttpOnly: remember here that this browser holds one, so visitors
// who never entered are not sent to /me just to be told 401.
const SESSION_KEY = "drop.session";
export const hasSession = () => {
  try {
    return localStorage.getItem(SESSION_KEY) === me;
  } catch {
    return false;
  }
};
export const rememberSession = () => {
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

export async function recoverSession() {
  try {
    await api("/api/session/recover", {
      method: "POST",
      body: { userId: me, recoveryCode: claimSecret(me) },
    });
  } catch {
    return false;
  }
  rememberSession();
  live.stream?.reopen();
  return true;
}

// Ends this browser's session on the server (every replica refuses it at once). The claim
// secret stays, so entering or buying later signs this browser in again.
export async function signOut() {
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
  live.stream?.reopen();
  render();
}

export async function asHolder(call) {
  try {
    return await call();
  } catch (error) {
    if (!sessionProblem(error) || !(await recoverSession())) throw error;
    return call();
  }
}

export async function refreshUser() {
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
