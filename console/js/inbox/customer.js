// The customer beside a conversation: their profile across handles, lifecycle stage, sentiment trend,
// recent timeline and consent, from the profiles API.

import * as api from "../api.js";
import { lines } from "../charts.js";
import { h, replace } from "../dom.js";
import { formatDate, formatMoney, formatNumber, t } from "../i18n.js";

const TIMELINE = 10;

function trendWord(trend) {
  if (trend > 0.05) return t("inbox.customer.trend_up");
  if (trend < -0.05) return t("inbox.customer.trend_down");
  return t("inbox.customer.trend_flat");
}

function facts(profile) {
  const value = Object.entries(profile.lifetime_value || {}).map(([currency, amount]) => formatMoney(Number(amount), currency));
  const rows = [
    [t("inbox.customer.lifecycle"), t(`inbox.lifecycle.${profile.lifecycle_stage}`) + (profile.at_risk ? ` · ${t("inbox.customer.at_risk")}` : "")],
    [
      t("inbox.customer.sentiment"),
      `${formatNumber(profile.sentiment?.average ?? null, { maximumFractionDigits: 2 })} · ${trendWord(profile.sentiment?.trend ?? 0)}`,
    ],
    [t("inbox.customer.mentions"), formatNumber(profile.mention_count)],
    [t("inbox.customer.languages"), (profile.languages || []).join(", ") || "—"],
    [t("inbox.customer.value"), value.join(", ") || "—"],
    [t("inbox.customer.first_seen"), formatDate(profile.first_seen_at)],
  ];
  return h("dl", { class: "facts" }, rows.map(([term, detail]) => [h("dt", {}, term), h("dd", {}, detail)]));
}

function handles(profile) {
  return h(
    "ul",
    { class: "handles", "aria-label": t("inbox.customer.handles") },
    (profile.handles || []).map((handle) => h("li", {}, h("span", { class: "badge" }, handle.platform), " ", handle.handle)),
  );
}

function sentimentChart(items) {
  const points = items
    .filter((item) => typeof item.sentiment_score === "number")
    .reverse()
        // -1..1 drawn as 0..100: the chart's axis starts at zero.
    .map((item) => ({ label: formatDate(item.occurred_at, { dateStyle: "short" }), value: Math.round((item.sentiment_score + 1) * 50) }));
  if (points.length < 2) return null;
  return lines(t("inbox.customer.sentiment_chart"), [{ name: t("inbox.customer.sentiment"), points }]);
}

function timeline(items) {
  if (!items.length) return h("p", { class: "muted" }, t("inbox.customer.no_timeline"));
  return h(
    "ol",
    { class: "timeline" },
    items.map((item) =>
      h(
        "li",
        {},
        h("time", { datetime: item.occurred_at }, formatDate(item.occurred_at)),
        " ",
        item.platform ? h("span", { class: "badge" }, item.platform) : null,
        item.sentiment_label ? h("span", { class: `badge ${item.sentiment_label}` }, t(`inbox.sentiment.${item.sentiment_label}`)) : null,
        h("p", { dir: "auto" }, item.redacted ? t("inbox.redacted") : item.excerpt || "—"),
      ),
    ),
  );
}

function consents(view) {
  if (!view) return h("p", { class: "muted" }, t("inbox.customer.no_consent"));
  const rows = view.purposes.map((purpose) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, t(`inbox.purpose.${purpose.purpose}`)),
      h("td", {}, purpose.status ? t(`inbox.consent.${purpose.status}`) : "—"),
      h(
        "td",
        {},
        h(
          "span",
          { class: `badge ${purpose.decision.allowed ? "met" : "breached"}` },
          t(purpose.decision.allowed ? "inbox.decision.allowed" : "inbox.decision.refused"),
        ),
        " ",
        t(`inbox.reason.${purpose.decision.reason}`),
      ),
    ),
  );
  return h(
    "div",
    {},
    view.restricted ? h("p", { class: "badge breached" }, t("inbox.customer.restricted")) : null,
    h(
      "table",
      { class: "consents" },
      h("caption", { class: "visually-hidden" }, t("inbox.customer.consent")),
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, t("inbox.customer.purpose")), h("th", { scope: "col" }, t("inbox.customer.status")), h("th", { scope: "col" }, t("inbox.customer.decision"))),
      ),
      h("tbody", {}, rows),
    ),
  );
}

const optional = (promise) => promise.catch((error) => (error.status === 404 ? null : Promise.reject(error)));

/** Fill `box` with the customer of `conversation` (the snapshot it carries while the profile is not built). */
export async function renderCustomer(box, conversation, signal) {
  const id = encodeURIComponent(conversation.profile_id);
  replace(box, h("h2", { id: "customer-title" }, t("inbox.customer.title")), h("p", { class: "loading" }, t("shell.loading")));
  let profile;
  let history;
  let consent;
  try {
    [profile, history, consent] = await Promise.all([
      optional(api.request(`/v1/profiles/${id}`, { signal })),
      optional(api.request(`/v1/profiles/${id}/timeline?limit=${TIMELINE}`, { signal })),
      optional(api.request(`/v1/profiles/${id}/consents?limit=5`, { signal })),
    ]);
  } catch (error) {
    if (error.name === "AbortError") return;
    replace(box, h("h2", { id: "customer-title" }, t("inbox.customer.title")), h("p", { class: "problem", role: "alert" }, error.message));
    return;
  }
  const name = profile?.display_name || conversation.customer_display_name || conversation.customer_handle || t("inbox.customer_unknown");
  const items = history?.items || [];
  replace(
    box,
    h("h2", { id: "customer-title" }, t("inbox.customer.title")),
    h("p", { class: "customer-name", dir: "auto" }, name),
    profile ? [handles(profile), facts(profile)] : h("p", { class: "muted" }, t("inbox.customer.no_profile")),
    h("h3", {}, t("inbox.customer.sentiment_trend")),
    sentimentChart(items) || h("p", { class: "muted" }, profile ? trendWord(profile.sentiment?.trend ?? 0) : "—"),
    h("h3", {}, t("inbox.customer.timeline")),
    timeline(items),
    h("h3", {}, t("inbox.customer.consent")),
    consents(consent),
  );
}
