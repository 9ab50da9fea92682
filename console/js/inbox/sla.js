// SLA timers: a conversation's deadlines counting down each second, with an at-risk / breached badge.
//
// A timer is a <span class="badge sla"> carrying its deadline in data attributes; `tick()` rewrites every
// timer under a root from the clock, so the list and the open conversation share one interval.

import { h } from "../dom.js";
import { formatNumber, t } from "../i18n.js";

const two = (value) => formatNumber(value, { minimumIntegerDigits: 2 });

/** "1:05:09" (or "05:09" under an hour) in the user's digits. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const rest = `${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  return hours ? `${formatNumber(hours)}:${rest}` : rest;
}

/** The target that matters now: the first response until it is made, then the resolution. */
export function currentTarget(conversation) {
  const sla = conversation.sla || {};
  const first = sla.first_response || {};
  if (first.due_at && !conversation.first_response_at) return ["first_response", first];
  const resolution = sla.resolution || {};
  if (resolution.due_at) return ["resolution", resolution];
  return [null, null];
}

/** One target's badge; null when the conversation has no such deadline. */
export function timer(conversation, name, target) {
  if (!target || !target.due_at) return null;
  const el = h("span", {
    class: "badge sla",
    dataset: { due: target.due_at, state: target.state || "ok", target: name, paused: conversation.sla?.paused ? "1" : "" },
  });
  paint(el, Date.now());
  return el;
}

function paint(el, now) {
  const { due, state, target, paused } = el.dataset;
  const label = t(`inbox.sla.${target}`);
  const left = (new Date(due).getTime() - now) / 1000;
  let kind = "ok";
  let text;
  if (state === "met") {
    kind = "met";
    text = t("inbox.sla.met", { target: label });
  } else if (paused) {
    text = t("inbox.sla.paused", { target: label });
  } else if (state === "breached" || left <= 0) {
    kind = "breached";
    text = t("inbox.sla.breached", { target: label, time: clock(-left) });
  } else {
    if (state === "warning") kind = "at-risk";
    text = t(kind === "at-risk" ? "inbox.sla.at_risk" : "inbox.sla.due", { target: label, time: clock(left) });
  }
  el.className = `badge sla ${kind}`;
  if (el.textContent !== text) el.textContent = text;
}

/** Repaint every timer under `root`. */
export function tick(root, now = Date.now()) {
  for (const el of root.querySelectorAll(".badge.sla")) paint(el, now);
}

/** Tick every second until `signal` aborts. */
export function runTimers(root, signal) {
  const id = setInterval(() => tick(root), 1000);
  signal.addEventListener("abort", () => clearInterval(id));
}
