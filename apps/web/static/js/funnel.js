// The console's live funnel: one reading a second from /admin/funnel/events. Each drop shows
// its stages as bars (waiting → admitted → registered → winners → purchased), a line chart
// of arrivals and registrations per second over the last five minutes, and the API's error
// rate. Rates are differences between consecutive readings.

import { openStream } from "/static/js/sse.js";

const WINDOW_S = 300;
const STAGES = [
  ["waiting", "Waiting"],
  ["admitted", "Admitted"],
  ["registered", "Registered"],
  ["winners", "Winners"],
  ["purchased", "Purchased"],
];
const PHASES = { registration: "Entries open", purchase: "Buying", completed: "Sold out / ended" };
const SVG = "http://www.w3.org/2000/svg";

const root = document.getElementById("funnel-drops");
const live = document.querySelector("[data-field=funnel-live]");
const errorRate = document.getElementById("error-rate");
const history = new Map(); // dropId → [{at, arrivals, registrations}]
let previous = null;

function perSecond(now, before, key) {
  if (!before) return 0;
  const seconds = (now.at - before.at) / 1000;
  return seconds > 0 ? Math.max(0, (now[key] - before[key]) / seconds) : 0;
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function chart(points, label) {
  const w = 300, h = 80;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, class: "funnel-chart", role: "img", "aria-label": label });
  const top = Math.max(1, ...points.map((p) => Math.max(p.arrivals, p.registrations)));
  const end = points.length ? points[points.length - 1].at : 0;
  const x = (at) => w - ((end - at) / 1000 / WINDOW_S) * w;
  const y = (v) => h - 4 - (v / top) * (h - 12);
  svg.append(svgEl("line", { x1: 0, y1: h - 4, x2: w, y2: h - 4, class: "axis" }));
  for (const [key, cls] of [["arrivals", "line-arrivals"], ["registrations", "line-registrations"]]) {
    const coords = points.map((p) => `${x(p.at).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
    svg.append(svgEl("polyline", { points: coords, class: cls, "data-series": key }));
  }
  const peak = svgEl("text", { x: 4, y: 12, class: "chart-scale" });
  peak.textContent = `${top.toFixed(top < 10 ? 1 : 0)}/s`;
  svg.append(peak);
  return svg;
}

function render(drop, points) {
  const card = el("article", { class: "funnel-card", "data-drop-id": drop.dropId, "data-phase": drop.phase });
  const head = el("div", { class: "funnel-head" });
  head.append(el("h3", {}, drop.productName));
  head.append(el("span", { class: "badge", "data-phase": drop.phase }, PHASES[drop.phase] ?? drop.phase));
  card.append(head);
  const widest = Math.max(1, ...STAGES.map(([key]) => drop[key]));
  const list = el("ol", { class: "funnel-stages" });
  for (const [key, label] of STAGES) {
    if (!drop.queueEnabled && (key === "waiting" || key === "admitted")) continue;
    const item = el("li", { class: "stage", "data-stage": key });
    item.append(el("span", { class: "stage-label" }, label));
    const bar = el("span", { class: "stage-bar" });
    const fill = el("span", { class: "stage-fill" });
    fill.style.width = `${(100 * drop[key]) / widest}%`;
    bar.append(fill);
    item.append(bar);
    const suffix = key === "purchased" ? ` / ${drop.inventory}` : "";
    item.append(el("span", { class: "stage-count", "data-field": key }, `${drop[key]}${suffix}`));
    list.append(item);
  }
  card.append(list);
  const last = points[points.length - 1] ?? { arrivals: 0, registrations: 0 };
  const legend = el("p", { class: "chart-legend" });
  legend.append(el("span", { class: "key key-arrivals", "data-field": "arrivals-rate" }, `Arrivals ${last.arrivals.toFixed(1)}/s`));
  legend.append(el("span", { class: "key key-registrations", "data-field": "registrations-rate" }, `Registrations ${last.registrations.toFixed(1)}/s`));
  card.append(legend);
  card.append(chart(points, `Arrivals and registrations per second, last ${WINDOW_S / 60} minutes`));
  return card;
}

function showErrors(reading) {
  if (!reading.api || !previous?.api) return;
  const requests = reading.api.requests - previous.api.requests;
  const errors = reading.api.errors - previous.api.errors;
  const rate = requests > 0 ? (100 * errors) / requests : 0;
  errorRate.dataset.level = rate >= 5 ? "bad" : rate > 0 ? "warn" : "ok";
  errorRate.textContent = `Errors ${rate.toFixed(1)}%`;
}

function update(reading) {
  showErrors(reading);
  const registerRate = previous?.api && reading.api ? perSecond(
    { at: reading.at, n: reading.api.registerRequests }, { at: previous.at, n: previous.api.registerRequests }, "n") : 0;
  const cards = [];
  for (const drop of reading.drops) {
    const before = previous?.drops.find((d) => d.dropId === drop.dropId);
    const now = { at: reading.at, arrived: drop.arrived, registered: drop.registered };
    const then = before && { at: previous.at, arrived: before.arrived, registered: before.registered };
    const points = history.get(drop.dropId) ?? [];
    // Without a waiting room, people arrive straight at registration.
    const arrivals = drop.queueEnabled ? perSecond(now, then, "arrived") : Math.max(registerRate, perSecond(now, then, "registered"));
    points.push({ at: reading.at, arrivals, registrations: perSecond(now, then, "registered") });
    while (points.length && reading.at - points[0].at > WINDOW_S * 1000) points.shift();
    history.set(drop.dropId, points);
    cards.push(render(drop, points));
  }
  root.replaceChildren(...(cards.length ? cards : [el("p", { class: "muted" }, "No active drops.")]));
  previous = reading;
}

if (root) {
  openStream("/admin/funnel/events", { funnel: update }, (state) => {
    live.dataset.state = state;
    live.textContent = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…";
  });
}
