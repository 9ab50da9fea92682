// Pieces the listening, dashboard and privacy pages share: sub-navigation, filter forms kept in the hash's
// query, labelled selects and period inputs.

import { h } from "../dom.js";
import { t } from "../i18n.js";

/** `#/<page>/<params…>?<query>` with empty values left out. */
export function hashOf(path, query = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

/** The hash query as a plain object. */
export function queryObject(query) {
  return Object.fromEntries(query.entries());
}

/** A tab bar of links (`aria-current` on the open one). */
export function tabs(label, items, current) {
  return h(
    "nav",
    { class: "tabs", "aria-label": label },
    h(
      "ul",
      {},
      items.map(([key, href, text]) =>
        h("li", {}, h("a", { href, "aria-current": key === current ? "page" : false }, text)),
      ),
    ),
  );
}

/** A <select> of [value, text] pairs with `selected` preselected (an empty first option if `any`). */
export function select(name, options, selected = "", any = null) {
  return h(
    "select",
    { name },
    any === null ? null : h("option", { value: "" }, any),
    options.map(([value, text]) => h("option", { value, selected: value === selected }, text)),
  );
}

/** A labelled control in a filter bar. */
export function labelled(text, control) {
  const id = control.id || `f-${control.name}-${Math.random().toString(36).slice(2, 7)}`;
  control.id = id;
  return h("div", { class: "filter" }, h("label", { for: id }, text), control);
}

/** A local date (`YYYY-MM-DD`) for an ISO instant, for `<input type=date>`. */
export function dateInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The ISO instant of a local date's midnight (`endOfDay`: of the next day, an exclusive end). */
export function instantOf(date, endOfDay = false) {
  if (!date) return "";
  const [y, m, d] = date.split("-").map(Number);
  return new Date(y, m - 1, d + (endOfDay ? 1 : 0)).toISOString();
}

/** The filter form's values with empty ones left out. */
export function formValues(form) {
  const values = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (typeof value === "string" && value.trim() !== "") values[key] = value.trim();
  }
  return values;
}

/** A problem shown in place of a section (a failed read), with its message. */
export function failed(error) {
  return h("p", { class: "problem", role: "alert" }, t("shell.error"), ": ", error.message);
}

/** Runs `fn` `ms` after the last call (the query editor's check as the user types). */
export function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}
