// JSON over fetch, same origin (cookies go along), with the API's error shape unpacked.

export class ApiError extends Error {
  constructor(status, message, data = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = data?.code ?? null;
    this.data = data;
    this.retryAfter = retryAfter == null ? null : Number(retryAfter);
  }
}

export async function api(path, { method = "GET", body, idempotencyKey, claimSecret } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (claimSecret) headers["X-Claim-Secret"] = claimSecret;
  // A mutating call keeps its Idempotency-Key across one retry after a network failure.
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (!idempotencyKey) throw error;
    response = await fetch(path, init);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    let message = data?.error ?? `HTTP ${response.status}`;
    if (Array.isArray(data?.details) && data.details.length) {
      message += `: ${data.details.map((d) => d.message).join("; ")}`;
    }
    throw new ApiError(response.status, message, data, response.headers.get("Retry-After"));
  }
  return data;
}

/** `api` plus the wall-clock interval it took, for clock sampling. */
export async function timedApi(path, options) {
  const sentAt = Date.now();
  const data = await api(path, options);
  return { data, sentAt, receivedAt: Date.now() };
}
