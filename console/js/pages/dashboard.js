// The manager's dashboard: the scorecard (GET /v1/metrics/scorecard) with its filters, sentiment over time,
// share of voice, care and customer figures. Every figure links down to its rows (GET /v1/metrics/rows,
// #/dashboard/rows/<metric>?<filters>); the scorecard and the rows export as CSV through the API.
//
// Each figure's element carries `data-metric` (the API's metric name: a time series' name where there is
// one, `clv:<stage>` for CLV by lifecycle stage) and `data-value` (the API's number), its text the value as
// shown.

import * as api from "../api.js";
import { download, h, pager, replace, toast } from "../dom.js";
import { bars, signedBars, table } from "../charts.js";
import { formatDate, formatDuration, formatMoney, formatNumber, formatPercent, t } from "../i18n.js";
import { dateInput, failed, formValues, hashOf, instantOf, labelled, queryObject, select } from "../insight/common.js";

const FILTERS = ["from", "to", "channel", "platform", "team", "agent", "language", "query"];
const DAY = 24 * 3600 * 1000;
const ROWS_PAGE = 50;

export async function render(main, ctx) {
  if (ctx.params[0] === "rows" && ctx.params[1]) return renderRows(main, ctx, ctx.params[1]);
  return renderBoard(main, ctx);
}

/** The filters in the hash, with the default period (the last 30 days) when none is given. */
function filtersOf(ctx) {
  const f = {};
  for (const key of FILTERS) {
    const value = ctx.query.get(key);
    if (value) f[key] = value;
  }
  if (!f.from && !f.to) {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    f.from = new Date(start.getTime() - 29 * DAY).toISOString();
  }
  return f;
}

function search(f, extra = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...f, ...extra })) if (value) params.set(key, value);
  return params.toString();
}

// --- What the scorecard shows ---------------------------------------------------------------------------

const count = (v) => formatNumber(v);
const pct = (v) => formatPercent(v);
const signed = (v) => (v === null || v === undefined ? "—" : formatNumber(v, { maximumFractionDigits: 1, signDisplay: "exceptZero" }));
const minutes = (v) => (v === null || v === undefined ? "—" : formatDuration(v * 60));

// [data-metric, rows metric, value from the scorecard, format, a line under it (optional)]
const GROUPS = [
  [
    "listening",
    [
      ["mentions", "mentions", (c) => c.listening.mentions.total, count],
      ["net_sentiment", "mentions", (c) => c.listening.net_sentiment, signed],
      [
        "share_of_voice",
        "share_of_voice",
        (c) => c.listening.share_of_voice.share,
        pct,
        (c) => t("dashboard.sub.voice", { brand: c.listening.share_of_voice.brand, competitor: c.listening.share_of_voice.competitor }),
      ],
      ["alerts", "alerts", (c) => c.listening.alerts, count],
    ],
  ],
  [
    "care",
    [
      ["conversations", "conversations", (c) => c.care.conversations.opened, count, (c) => t("dashboard.sub.assigned", { assigned: c.care.conversations.assigned })],
      ["backlog", "backlog", (c) => c.care.conversations.backlog, count],
      ["first_response_p50", "first_response", (c) => c.care.first_response.p50_minutes, minutes, (c) => t("dashboard.sub.answered", { count: c.care.first_response.count })],
      ["first_response_p90", "first_response", (c) => c.care.first_response.p90_minutes, minutes],
      ["first_response_pending", "first_response", (c) => c.care.first_response.pending, count],
      ["resolution_p50", "resolution", (c) => c.care.resolution.p50_minutes, minutes, (c) => t("dashboard.sub.resolved", { count: c.care.resolution.count })],
      ["resolution_p90", "resolution", (c) => c.care.resolution.p90_minutes, minutes],
      ["resolution_pending", "resolution", (c) => c.care.resolution.pending, count],
      ["sla_compliance", "sla", (c) => c.care.sla.compliance, pct, (c) => t("dashboard.sub.of", { count: c.care.sla.met, base: c.care.sla.conversations })],
      ["reopen_rate", "reopen_rate", (c) => c.care.reopen.rate, pct, (c) => t("dashboard.sub.of", { count: c.care.reopen.count, base: c.care.reopen.base })],
    ],
  ],
  [
    "customer",
    [
      ["csat", "csat", (c) => c.customer.csat.score, pct, (c) => t("dashboard.sub.answers", { count: c.customer.csat.answers })],
      ["nps", "nps", (c) => c.customer.nps.score, signed, (c) => t("dashboard.sub.answers", { count: c.customer.nps.answers })],
      ["social_conversion", "social_conversion", (c) => c.customer.social_conversion.rate, pct, (c) => t("dashboard.sub.of", { count: c.customer.social_conversion.count, base: c.customer.social_conversion.base })],
      ["retention", "retention", (c) => c.customer.retention.rate, pct, (c) => t("dashboard.sub.of", { count: c.customer.retention.count, base: c.customer.retention.base })],
      ["clv", "clv", (c) => numberOrNull(c.customer.clv.all.mean), (v, c) => formatMoney(v, c.customer.clv.currency), (c) => t("dashboard.sub.customers", { count: c.customer.clv.all.customers })],
    ],
  ],
];

function numberOrNull(text) {
  return text === null || text === undefined ? null : Number(text);
}

/** A figure: its name, and its value as a link down to its rows. */
function figure(f, name, rows, value, shown, sub = null) {
  const label = t(`dashboard.metric.${name.split(":")[0]}`, { stage: name.split(":")[1] || "" });
  return h(
    "div",
    { class: "figure card" },
    h("span", { class: "figure-label" }, label),
    h(
      "a",
      {
        class: "figure-value",
        href: `#/dashboard/rows/${rows}?${search(f)}`,
        "data-metric": name,
        "data-value": value === null || value === undefined ? "" : String(value),
        "aria-label": t("dashboard.figure_link", { label, value: shown }),
      },
      shown,
    ),
    sub ? h("span", { class: "figure-sub muted" }, sub) : null,
  );
}

// --- The board ------------------------------------------------------------------------------------------

async function optionsOf(path, signal, text) {
  try {
    return (await api.all(path, { signal, max: 500 })).map((x) => [x.id, text(x)]);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return null;
  }
}

function filterForm(ctx, f, lists) {
  const q = queryObject(ctx.query);
  const choice = (name, list) =>
    list ? select(name, list, q[name] || "", t("dashboard.all")) : h("input", { name, value: q[name] || "", size: 12 });
  const form = h(
    "form",
    {
      class: "filters card",
      "aria-label": t("dashboard.filters"),
      onsubmit: (event) => {
        event.preventDefault();
        const values = formValues(form);
        if (values.from) values.from = instantOf(values.from);
        if (values.to) values.to = instantOf(values.to, true);
        ctx.navigate(hashOf("dashboard", values));
      },
    },
    labelled(t("dashboard.filter.from"), h("input", { type: "date", name: "from", value: dateInput(f.from) })),
    labelled(
      t("dashboard.filter.to"),
      // `to` is exclusive: the form shows the last day included.
      h("input", { type: "date", name: "to", value: f.to ? dateInput(new Date(new Date(f.to).getTime() - 1).toISOString()) : "" }),
    ),
    labelled(t("dashboard.filter.channel"), h("input", { name: "channel", value: q.channel || "", size: 12 })),
    labelled(t("dashboard.filter.platform"), h("input", { name: "platform", value: q.platform || "", size: 10 })),
    labelled(t("dashboard.filter.team"), choice("team", lists.teams)),
    labelled(t("dashboard.filter.agent"), choice("agent", lists.agents)),
    labelled(t("dashboard.filter.language"), h("input", { name: "language", value: q.language || "", size: 6 })),
    labelled(t("dashboard.filter.query"), choice("query", lists.queries)),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "submit", class: "primary" }, t("dashboard.apply")),
      h("a", { href: "#/dashboard", class: "button" }, t("dashboard.reset")),
    ),
  );
  return form;
}

function interval(f) {
  const from = new Date(f.from || Date.now() - 30 * DAY).getTime();
  const to = f.to ? new Date(f.to).getTime() : Date.now();
  const days = (to - from) / DAY;
  return days <= 3 ? "hour" : days <= 180 ? "day" : "week";
}

async function renderBoard(main, ctx) {
  const f = filtersOf(ctx);
  const [teams, agents, queries] = await Promise.all([
    optionsOf("/v1/teams?limit=200", ctx.signal, (x) => x.name),
    optionsOf("/v1/agents?limit=200", ctx.signal, (x) => x.display_name || x.id),
    optionsOf("/v1/listening/queries?limit=200", ctx.signal, (x) => x.name),
  ]);
  const board = h("div", { class: "board stack" });
  replace(main, h("h1", {}, t("dashboard.title")), filterForm(ctx, f, { teams, agents, queries }), board);

  let card;
  try {
    card = await api.request(`/v1/metrics/scorecard?${search(f)}`, { signal: ctx.signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    replace(board, failed(error));
    return;
  }

  const sections = GROUPS.map(([group, figures]) =>
    h(
      "section",
      { class: "figures", "aria-labelledby": `dash-${group}` },
      h("h2", { id: `dash-${group}` }, t(`dashboard.group.${group}`)),
      h(
        "div",
        { class: "grid" },
        figures.map(([name, rows, get, format, sub]) => {
          const value = get(card);
          return figure(f, name, rows, value, format(value, card), sub ? sub(card) : null);
        }),
      ),
    ),
  );

  const exportCard = exportButton(t("dashboard.export_scorecard"), `/v1/metrics/scorecard?${search(f, { format: "csv" })}`, "scorecard.csv");

  const series = h("section", { class: "card", "aria-labelledby": "dash-sentiment" }, h("h2", { id: "dash-sentiment" }, t("dashboard.sentiment.title")));
  replace(
    board,
    h(
      "p",
      { class: "row period" },
      h("span", {}, t("dashboard.period", { from: card.from ? formatDate(card.from) : t("dashboard.beginning"), to: formatDate(card.to) })),
      exportCard,
    ),
    sections,
    h("div", { class: "charts" }, series, voiceChart(card), surveyCharts(card), clvTable(f, card)),
  );

  try {
    const step = interval(f);
    const data = await api.request(`/v1/metrics/timeseries?${search(f, { metric: "net_sentiment", interval: step })}`, { signal: ctx.signal });
    const label = (iso) => formatDate(iso, step === "hour" ? { hour: "numeric", day: "numeric" } : { month: "short", day: "numeric" });
    const title = t("dashboard.sentiment.chart", { interval: t(`dashboard.interval.${step}`) });
    series.append(
      signedBars(title, data.points.map((p) => ({ label: label(p.start), value: p.value }))),
      h(
        "details",
        {},
        h("summary", {}, t("dashboard.as_table")),
        table(title, [t("dashboard.sentiment.bucket"), t("dashboard.metric.net_sentiment")], data.points.map((p) => [formatDate(p.start), signed(p.value)])),
      ),
    );
  } catch (error) {
    if (error.name === "AbortError") return;
    series.append(failed(error));
  }
}

// The charts are pictures with their table beside; the figures above are the links to the rows.
function voiceChart(card) {
  const sov = card.listening.share_of_voice;
  const title = t("dashboard.voice.chart");
  return h(
    "section",
    { class: "card", "aria-labelledby": "dash-voice" },
    h("h2", { id: "dash-voice" }, t("dashboard.voice.title")),
    bars(title, [
      { label: t("dashboard.voice.brand"), value: sov.brand },
      { label: t("dashboard.voice.competitor"), value: sov.competitor },
    ]),
    h(
      "details",
      {},
      h("summary", {}, t("dashboard.as_table")),
      table(title, ["", t("dashboard.voice.matches")], [
        [t("dashboard.voice.brand"), formatNumber(sov.brand)],
        [t("dashboard.voice.competitor"), formatNumber(sov.competitor)],
      ]),
    ),
  );
}

function surveyCharts(card) {
  const one = (kind, scores, range) => {
    const title = t(`dashboard.survey.${kind}`);
    const points = range.map((s) => ({ label: formatNumber(s), value: scores.by_score[String(s)] || 0 }));
    return h(
      "div",
      {},
      h("h3", {}, title),
      bars(title, points),
      h(
        "details",
        {},
        h("summary", {}, t("dashboard.as_table")),
        table(title, [t("dashboard.survey.score"), t("dashboard.survey.answers")], points.map((p) => [p.label, formatNumber(p.value)])),
      ),
    );
  };
  const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  return h(
    "section",
    { class: "card", "aria-labelledby": "dash-surveys" },
    h("h2", { id: "dash-surveys" }, t("dashboard.survey.title")),
    h("div", { class: "pair" }, one("csat", card.customer.csat, range(1, 5)), one("nps", card.customer.nps, range(0, 10))),
  );
}

function clvTable(f, card) {
  const clv = card.customer.clv;
  const stages = Object.entries(clv.by_stage);
  return h(
    "section",
    { class: "card", "aria-labelledby": "dash-clv" },
    h("h2", { id: "dash-clv" }, t("dashboard.clv.title", { currency: clv.currency })),
    stages.length
      ? h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, t("dashboard.clv.title", { currency: clv.currency })),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, t("dashboard.clv.stage")),
              h("th", { scope: "col", class: "num" }, t("dashboard.clv.customers")),
              h("th", { scope: "col", class: "num" }, t("dashboard.clv.mean")),
            ),
          ),
          h(
            "tbody",
            {},
            stages.map(([stage, g]) => {
              const mean = numberOrNull(g.mean);
              return h(
                "tr",
                {},
                h("th", { scope: "row" }, t(`dashboard.stage.${stage}`) === `dashboard.stage.${stage}` ? stage : t(`dashboard.stage.${stage}`)),
                h("td", { class: "num" }, formatNumber(g.customers)),
                h(
                  "td",
                  { class: "num" },
                  h(
                    "a",
                    {
                      href: `#/dashboard/rows/clv?${search(f)}`,
                      "data-metric": `clv:${stage}`,
                      "data-value": mean === null ? "" : String(mean),
                    },
                    formatMoney(mean, clv.currency),
                  ),
                ),
              );
            }),
          ),
        )
      : h("p", { class: "muted" }, t("dashboard.clv.none")),
  );
}

// --- A figure's rows ------------------------------------------------------------------------------------

function cell(key, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? t("dashboard.yes") : t("dashboard.no");
  if (typeof value === "number") return formatNumber(value, { maximumFractionDigits: 2 });
  if (/_at$|^bucket_start$/.test(key) && !Number.isNaN(Date.parse(value))) return formatDate(value);
  return String(value);
}

/** A button that downloads the API's CSV at `path` as `filename` (disabled while it does). */
function exportButton(label, path, filename) {
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        button.disabled = true;
        try {
          download(filename, await api.request(path, { accept: "text/csv" }));
        } catch (error) {
          toast(error.message, "error");
        } finally {
          button.disabled = false;
        }
      },
    },
    label,
  );
  return button;
}

async function renderRows(main, ctx, metric) {
  const f = filtersOf(ctx);
  const name = t(`dashboard.rows.${metric}`);
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const holder = h("div", { class: "rows" });
  let columns = null;
  let tbody = null;
  let total = 0;
  const { more, next } = pager(async (cursor) => {
    const page = await api.request(`/v1/metrics/rows?${search(f, { metric, limit: ROWS_PAGE, cursor })}`, { signal: ctx.signal });
    if (!columns && page.items.length) {
      columns = Object.keys(page.items[0]);
      tbody = h("tbody");
      replace(
        holder,
        h(
          "table",
          { class: "metric-rows" },
          h("caption", { class: "visually-hidden" }, t("dashboard.rows.title", { name })),
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`dashboard.column.${c}`) === `dashboard.column.${c}` ? c : t(`dashboard.column.${c}`))))),
          tbody,
        ),
      );
    }
    if (tbody) tbody.append(...page.items.map((r) => h("tr", {}, columns.map((c) => h("td", {}, cell(c, r[c]))))));
    total += page.items.length;
    status.textContent = total ? t("dashboard.rows.shown", { count: total }) : t("dashboard.rows.none");
    return page.next_cursor;
  });
  const exportRows = exportButton(t("shell.export_csv"), `/v1/metrics/rows?${search(f, { metric, format: "csv" })}`, `metric-${metric}.csv`);
  replace(
    main,
    h("p", {}, h("a", { href: hashOf("dashboard", Object.fromEntries(FILTERS.filter((k) => ctx.query.get(k)).map((k) => [k, ctx.query.get(k)]))) }, t("dashboard.back"))),
    h("h1", {}, t("dashboard.rows.title", { name })),
    h("p", { class: "row period" }, h("span", {}, t("dashboard.period", { from: f.from ? formatDate(f.from) : t("dashboard.beginning"), to: f.to ? formatDate(f.to) : t("dashboard.now") })), exportRows),
    status,
    holder,
    more,
  );
  try {
    await next();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    replace(holder, failed(error));
  }
}
