// An event filter in JavaScript, against the gateway's WIT world
// `event-filter-plugin`, built into a component with componentize-js.
//
// A subscriber receives an event when it subscribed to the event's type,
// is one of the event's target users (when the event names any), the event
// is at least as severe as `min_severity`, and neither its title nor its
// message contains one of the `mute` words (case-insensitive). An event id
// seen before is refused for everybody (the last 1 000 ids, in memory).
//
// Config (manifest `[config]`):
// - `min_severity`: `low` (default), `medium`, `high` or `critical`.
// - `mute`: comma-separated words; an event mentioning one reaches nobody.

import { get } from "gateway:plugins/config@0.1.0";
import { log } from "gateway:plugins/log@0.1.0";

const SEVERITIES = ["low", "medium", "high", "critical"];
const REMEMBERED_IDS = 1000;

let minSeverity = 0;
let muted = [];
const seen = new Set();

function readConfig() {
  const min = (get("min_severity") ?? "low").trim().toLowerCase();
  const rank = SEVERITIES.indexOf(min);
  if (rank < 0) {
    throw `config min_severity must be one of ${SEVERITIES.join(", ")}, not \`${min}\``;
  }
  minSeverity = rank;
  muted = (get("mute") ?? "")
    .split(",")
    .map((w) => w.trim().toLowerCase())
    .filter((w) => w.length > 0);
}

function mentionsMuted(ev) {
  const text = `${ev.title}\n${ev.message}`.toLowerCase();
  return muted.find((w) => text.includes(w));
}

function firstSighting(id) {
  if (seen.has(id)) {
    return false;
  }
  seen.add(id);
  if (seen.size > REMEMBERED_IDS) {
    seen.delete(seen.values().next().value);
  }
  return true;
}

export const eventFilter = {
  describe() {
    return {
      plugin: {
        name: "js-event-filter",
        version: "0.1.0",
        description: "Events by type, target users and minimum severity; drops muted words (JavaScript)",
      },
      pollIntervalMs: undefined,
    };
  },

  init() {
    readConfig();
    log("info", `js-event-filter ready: min_severity=${SEVERITIES[minSeverity]}, ${muted.length} muted word(s)`);
  },

  filter(ev, subscribers) {
    if (!firstSighting(ev.id)) {
      return subscribers.map(() => false);
    }
    const word = mentionsMuted(ev);
    if (word !== undefined) {
      log("debug", `event ${ev.id} mentions muted word \`${word}\`; dropped`);
      return subscribers.map(() => false);
    }
    if (SEVERITIES.indexOf(ev.severity) < minSeverity) {
      return subscribers.map(() => false);
    }
    const targets = ev.targetUserIds;
    return subscribers.map(
      (s) =>
        s.eventTypes.includes(ev.kind) &&
        (targets === undefined || targets.includes(s.userId)),
    );
  },

  poll() {
    return [];
  },
};
