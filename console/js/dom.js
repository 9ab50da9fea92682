// Building the page from data as nodes, never as markup: text is always text (no injection).

import { t } from "./i18n.js";

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Close"}, "×")
 * Attributes: `on<event>` functions become listeners; `class`, `for`, `dataset` ({key: value}),
 * booleans set or remove the attribute; null/undefined/false are left out. Children: strings, numbers,
 * nodes, arrays of them; null/undefined/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(":")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.split(":")[1])
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

/** An SVG element (charts): svg("rect", {x: 0, ...}). */
export function svg(tag, attrs = {}, ...children) {
  return h(`svg:${tag}`, attrs, ...children);
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let toastTimer = null;

/** A short status message in the live region (screen readers announce it). */
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.className = `toast ${kind}`;
  box.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.textContent = "";
    box.className = "";
  }, 5000);
}

/** A labelled form field: label + control (+ an error slot the caller may fill). */
export function field(label, control, hint = null) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  control.setAttribute("aria-describedby", `${id}-error`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint" }, hint) : null,
    error,
  );
}

/** Show (or clear with null) the error under a control made by field(). */
export function setFieldError(control, message) {
  const slot = document.getElementById(`${control.id}-error`);
  if (slot) slot.textContent = message || "";
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
}

/** Trigger a download of text (CSV export) without a navigation. */
export function download(filename, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A cursor-paged list's "Load more" button: `load(cursor)` shows one page (the first for null) and
 * answers its `next_cursor`. The button shows while there is a next page and is disabled while one
 * loads; a page it fails to load is a toast. `next()` loads the following page (the caller awaits the
 * first one, and handles its failure).
 */
export function pager(load) {
  const more = h("button", { type: "button", hidden: true }, t("shell.more"));
  let cursor = null;
  const next = async () => {
    more.disabled = true;
    try {
      cursor = await load(cursor);
      more.hidden = !cursor;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => next().catch((error) => toast(error.message, "error")));
  return { more, next };
}
