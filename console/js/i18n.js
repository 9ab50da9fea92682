// Messages, direction and formatting in the user's language, locale and time zone.
//
// A language is one message file, `/console/i18n/<lang>.json` (flat keys, `{name}` placeholders); adding
// one is adding its file and its entry in LANGUAGES. Numbers and dates use Intl in the chosen locale and
// the browser's time zone (or the one the user picked).

export const LANGUAGES = {
  en: { name: "English", dir: "ltr" },
  ar: { name: "العربية", dir: "rtl" },
};

const STORE = "rapport.console.prefs"; // language and time zone only: never a token

let messages = {};
let fallback = {};
let lang = "en";
let timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function prefs() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

function savePrefs(update) {
  localStorage.setItem(STORE, JSON.stringify({ ...prefs(), ...update }));
}

async function load(code) {
  const response = await fetch(`/console/i18n/${code}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`messages for ${code}: ${response.status}`);
  return response.json();
}

/** The language to start in: the saved choice, else the browser's first one we have, else English. */
export function preferredLanguage() {
  const saved = prefs().lang;
  if (saved && LANGUAGES[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES[base]) return base;
  }
  return "en";
}

export async function setLanguage(code) {
  if (!LANGUAGES[code]) code = "en";
  if (!Object.keys(fallback).length) fallback = await load("en");
  messages = code === "en" ? fallback : await load(code);
  lang = code;
  savePrefs({ lang: code });
  document.documentElement.lang = code;
  document.documentElement.dir = LANGUAGES[code].dir;
  const zone = prefs().timeZone;
  if (zone) timeZone = zone;
}

export function language() {
  return lang;
}

export function direction() {
  return LANGUAGES[lang].dir;
}

export function setTimeZone(zone) {
  timeZone = zone;
  savePrefs({ timeZone: zone });
}

export function currentTimeZone() {
  return timeZone;
}

/** The message for `key` with `{name}` placeholders filled; the English one, else the key, if missing. */
export function t(key, params = {}) {
  const text = messages[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? formatValue(params[name]) : `{${name}}`));
}

function formatValue(value) {
  return typeof value === "number" ? formatNumber(value) : String(value);
}

export function formatNumber(value, options = {}) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(lang, options).format(value);
}

export function formatPercent(value, digits = 1) {
  // `value` is a percentage (50 means 50 %), as the metrics API answers.
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: digits }).format(value / 100);
}

export function formatMoney(value, currency) {
  if (value === null || value === undefined) return "—";
  try {
    return new Intl.NumberFormat(lang, { style: "currency", currency }).format(value);
  } catch {
    return `${formatNumber(value)} ${currency}`;
  }
}

export function formatDate(iso, options = { dateStyle: "medium", timeStyle: "short" }) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(lang, { ...options, timeZone }).format(new Date(iso));
}

/** "in 5 min" / "3 h ago", in the user's language. */
export function formatRelative(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

/** A duration in seconds as "1 h 5 min" (minutes below an hour). */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const minutes = Math.round(seconds / 60);
  const unit = (value, name) => new Intl.NumberFormat(lang, { style: "unit", unit: name, unitDisplay: "short" }).format(value);
  if (minutes < 60) return unit(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${unit(hours, "hour")} ${unit(rest, "minute")}` : unit(hours, "hour");
}
