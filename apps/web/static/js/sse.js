// EventSource with JSON payloads, a connection-state callback and a retry when the stream
// is refused outright (EventSource itself only retries dropped connections).

const MAX_BACKOFF_MS = 15000;

export function openStream(url, handlers, onState = () => {}) {
  let source = null;
  let closed = false;
  let backoff = 1000;
  let timer = null;

  function connect() {
    source = new EventSource(url, { withCredentials: true });
    onState("connecting");
    source.onopen = () => {
      backoff = 1000;
      onState("live");
    };
    source.onerror = () => {
      if (closed) return;
      if (source.readyState === EventSource.CLOSED) {
        onState("offline");
        timer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      } else {
        onState("reconnecting");
      }
    };
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        // Payloads name their own type (docs/contract.md, Streams); `event:` only routes them here.
        if (data?.type !== name) return;
        handler(data, event);
      });
    }
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
    /** Reconnect now, e.g. after sign-in so the new session cookie goes along. */
    reopen() {
      clearTimeout(timer);
      source?.close();
      connect();
    },
  };
}

export function showStreamState(root, state) {
  if (!root) return;
  root.dataset.state = state;
  const text = root.querySelector("[data-field=live-text]");
  const labels = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline — retrying" };
  if (text) text.textContent = labels[state] ?? state;
}
