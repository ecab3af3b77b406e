// The home page: keep the server-rendered cards live from `/events/drops` and tick their
// countdowns against the server's clock.

import { ServerClock } from "./clock.js";
import { formatCount, formatDuration, setText } from "./format.js";
import { countdownFor, displayPhase, PHASE_LABELS, stockText } from "./phases.js";
import { openStream, showStreamState } from "./sse.js";

const list = document.getElementById("drops");
const template = document.getElementById("card-template");
const announcer = document.getElementById("drops-announcer");
const clock = new ServerClock(JSON.parse(document.getElementById("server-time").textContent));
const drops = new Map();

const field = (card, name) => card.querySelector(`[data-field="${name}"]`);

function cardFor(drop) {
  let card = list.querySelector(`[data-drop-id="${CSS.escape(drop.dropId)}"]`);
  if (!card) {
    card = template.content.firstElementChild.cloneNode(true);
    card.dataset.dropId = drop.dropId;
    card.querySelector("a").href = `/drop/${encodeURIComponent(drop.dropId)}`;
  }
  return card;
}

function fill(card, drop, now) {
  const phase = displayPhase(drop, now);
  const badge = field(card, "phase");
  badge.dataset.phase = phase;
  setText(badge, PHASE_LABELS[phase] ?? phase);
  setText(field(card, "name"), drop.productName || drop.dropId);
  const image = field(card, "image");
  const src = drop.imageUrl || "/static/img/jacket.svg";
  if (image.getAttribute("src") !== src) image.setAttribute("src", src);
  setText(field(card, "inventory"), stockText(drop));
  setText(field(card, "participants"), formatCount(drop.participantCount));
  tickCard(card, drop, now);
}

function tickCard(card, drop, now) {
  const { label, target } = countdownFor(drop, now);
  setText(field(card, "countdown-label"), label);
  setText(field(card, "countdown"), target == null ? "" : formatDuration(target - now));
}

function showDrops(next, serverTime) {
  clock.observe(serverTime);
  const now = clock.now();
  const before = drops.size;
  drops.clear();
  const cards = next.map((drop) => {
    drops.set(drop.dropId, drop);
    const card = cardFor(drop);
    fill(card, drop, now);
    return card;
  });
  // Reorder (soonest deadline first, as the API sends them) and drop cards that ended.
  list.replaceChildren(...cards);
  document.getElementById("no-drops").hidden = cards.length > 0;
  setText(document.querySelector("[data-field=drop-count]"), String(cards.length));
  if (cards.length !== before) setText(announcer, `${cards.length} ${cards.length === 1 ? "drop" : "drops"} live`);
}

function tick() {
  const now = clock.now();
  for (const card of list.children) {
    const drop = drops.get(card.dataset.dropId);
    if (drop) tickCard(card, drop, now);
    else {
      const time = field(card, "countdown");
      const target = Number(time.dataset.target);
      if (target) setText(time, formatDuration(target - now));
    }
  }
}

openStream("/events/drops", {
  drops: (data) => showDrops(data.drops ?? [], data.serverTime),
}, (state) => showStreamState(document.getElementById("live-status"), state));
setInterval(tick, 250);
