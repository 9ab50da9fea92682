// The analyst's page: the mention stream with its filters and label corrections, the listening query
// editor (checked through the API as the user types), hourly volume and share of voice, and spike alerts.
//
// Views: #/listening (mentions), #/listening/queries[/<id>|/new], #/listening/charts, #/listening/alerts.

import * as api from "../api.js";
import { field, h, pager, replace, setFieldError, toast } from "../dom.js";
import { bars, table } from "../charts.js";
import { formatDate, formatNumber, formatPercent, formatRelative, t } from "../i18n.js";
import { debounce, failed, formValues, hashOf, instantOf, dateInput, labelled, queryObject, select, tabs } from "../insight/common.js";

const SENTIMENTS = ["negative", "neutral", "positive"];
const INTENTS = ["complaint", "question", "praise", "purchase_intent", "other"];
const KINDS = ["brand", "competitor", "topic"];
const LABELLERS = ["owner", "admin", "agent"];
const EDITORS = ["owner", "admin", "analyst"];
const PAGE = 25;
const POLL_MS = 15000;
const CHECK_MS = 350;

export async function render(main, ctx) {
  const view = ctx.params[0] || "mentions";
  const views = [
    ["mentions", "#/listening", t("listening.tab.mentions")],
    ["queries", "#/listening/queries", t("listening.tab.queries")],
    ["charts", "#/listening/charts", t("listening.tab.charts")],
    ["alerts", "#/listening/alerts", t("listening.tab.alerts")],
  ];
  const body = h("div", { class: "listening" });
  replace(main, h("h1", {}, t("listening.title")), tabs(t("listening.views"), views, view), body);
  const queries = await loadQueries(ctx.signal);
  if (view === "queries") return renderQueries(body, ctx, queries);
  if (view === "charts") return renderCharts(body, ctx, queries);
  if (view === "alerts") return renderAlerts(body, ctx, queries);
  return renderMentions(body, ctx, queries);
}

async function loadQueries(signal) {
  try {
    return await api.all("/v1/listening/queries?limit=200", { signal, max: 1000 });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return [];
  }
}

function queryName(queries, id) {
  return queries.find((q) => q.id === id)?.name || id;
}

// --- Mentions -------------------------------------------------------------------------------------------

const MENTION_FILTERS = ["sentiment", "intent", "language", "platform", "query_id", "since", "until"];

function mentionFilterForm(ctx, queries) {
  const q = queryObject(ctx.query);
  const form = h(
    "form",
    {
      class: "filters card",
      "aria-label": t("listening.filters"),
      onsubmit: (event) => {
        event.preventDefault();
        const values = formValues(form);
        if (values.since) values.since = instantOf(values.since);
        if (values.until) values.until = instantOf(values.until, true);
        ctx.navigate(hashOf("listening", values));
      },
    },
    labelled(
      t("listening.filter.sentiment"),
      select("sentiment", SENTIMENTS.map((s) => [s, t(`listening.sentiment.${s}`)]), q.sentiment, t("listening.any")),
    ),
    labelled(
      t("listening.filter.intent"),
      select("intent", INTENTS.map((s) => [s, t(`listening.intent.${s}`)]), q.intent, t("listening.any")),
    ),
    labelled(t("listening.filter.language"), h("input", { name: "language", value: q.language || "", size: 6 })),
    labelled(t("listening.filter.platform"), h("input", { name: "platform", value: q.platform || "", size: 10 })),
    labelled(
      t("listening.filter.query"),
      select("query_id", queries.map((x) => [x.id, x.name]), q.query_id, t("listening.any")),
    ),
    labelled(t("listening.filter.since"), h("input", { type: "date", name: "since", value: dateInput(q.since) })),
    labelled(t("listening.filter.until"), h("input", { type: "date", name: "until", value: dateInput(q.until) })),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "submit", class: "primary" }, t("listening.apply")),
      h("a", { href: "#/listening", class: "button" }, t("listening.clear")),
    ),
  );
  return form;
}

function mentionsPath(ctx, cursor = null) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  for (const key of MENTION_FILTERS) {
    const value = ctx.query.get(key);
    if (value) params.set(key, value);
  }
  if (cursor) params.set("cursor", cursor);
  return `/v1/mentions?${params}`;
}

async function renderMentions(body, ctx, queries) {
  const list = h("ol", { class: "mentions", "aria-label": t("listening.stream") });
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const follow = h("input", { type: "checkbox", id: "listening-follow", checked: true });
  const seen = new Set();

  const add = (mentions, where = "end") => {
    const fresh = mentions.filter((m) => !seen.has(m.id));
    for (const m of fresh) seen.add(m.id);
    const items = fresh.map((m) => mentionItem(m, ctx, queries));
    if (where === "start") list.prepend(...items);
    else list.append(...items);
    return fresh.length;
  };

  const { more, next } = pager(async (cursor) => {
    const page = await api.request(mentionsPath(ctx, cursor), { signal: ctx.signal });
    add(page.items);
    if (!seen.size) status.textContent = t("listening.no_mentions");
    return page.next_cursor;
  });

  const poll = async () => {
    if (!follow.checked) return;
    const page = await api.request(mentionsPath(ctx), { signal: ctx.signal });
    const n = add(page.items, "start");
    if (n) status.textContent = t("listening.new_mentions", { count: n });
  };
  const refresh = h(
    "button",
    { type: "button", onclick: () => poll().catch((e) => toast(e.message, "error")) },
    t("listening.refresh"),
  );

  replace(
    body,
    h("h2", { class: "visually-hidden" }, t("listening.tab.mentions")),
    mentionFilterForm(ctx, queries),
    h(
      "div",
      { class: "row toolbar" },
      refresh,
      h("div", { class: "check" }, follow, h("label", { for: "listening-follow" }, t("listening.follow"))),
      status,
    ),
    list,
    more,
  );
  await next();
  const timer = setInterval(() => poll().catch(() => {}), POLL_MS);
  ctx.signal.addEventListener("abort", () => clearInterval(timer));
}

function badge(kind, value, text) {
  return h("span", { class: `badge ${value}`, dataset: { label: kind } }, text);
}

function mentionItem(m, ctx, queries) {
  const item = h("li", { class: "mention card", dataset: { mentionId: m.id } });
  const draw = (mention) => {
    const a = mention.analysis;
    const labels = h(
      "p",
      { class: "labels" },
      a
        ? [
            badge("sentiment", a.sentiment.label, t(`listening.sentiment.${a.sentiment.label}`)),
            badge("intent", a.intent, t(`listening.intent.${a.intent}`)),
            badge("language", "", a.language),
            a.tier === "human" ? badge("tier", "human", t("listening.corrected")) : null,
          ]
        : badge("status", "", t(`listening.analysis.${mention.analysis_status}`)),
      badge("platform", "", mention.platform),
      (mention.matched_query_ids || []).map((id) => badge("query", "query", queryName(queries, id))),
    );
    const when = h("time", { datetime: mention.created_at, title: formatDate(mention.created_at) }, formatRelative(mention.created_at));
    replace(
      item,
      h(
        "p",
        { class: "meta" },
        h("strong", {}, mention.author.display_name || mention.author.handle),
        " ",
        h("span", { class: "muted" }, `@${mention.author.handle.replace(/^@/, "")}`),
        " · ",
        when,
      ),
      h("p", { class: "text", dir: "auto" }, mention.redacted_at ? t("listening.redacted") : mention.text),
      labels,
      a && LABELLERS.includes(ctx.user.role) ? correction(mention, draw) : null,
    );
  };
  draw(m);
  return item;
}

function correction(mention, redraw) {
  const a = mention.analysis;
  const sentiment = select("sentiment", SENTIMENTS.map((s) => [s, t(`listening.sentiment.${s}`)]), a.sentiment.label);
  const intent = select("intent", INTENTS.map((s) => [s, t(`listening.intent.${s}`)]), a.intent);
  const save = h("button", { type: "submit", class: "primary" }, t("listening.correct.save"));
  const form = h(
    "form",
    {
      class: "correction row",
      "aria-label": t("listening.correct.title"),
      onsubmit: async (event) => {
        event.preventDefault();
        const change = {};
        if (sentiment.value !== a.sentiment.label) change.sentiment = sentiment.value;
        if (intent.value !== a.intent) change.intent = intent.value;
        if (!Object.keys(change).length) {
          toast(t("listening.correct.unchanged"));
          return;
        }
        save.disabled = true;
        try {
          await api.request(`/v1/mentions/${encodeURIComponent(mention.id)}/labels`, {
            method: "POST",
            body: change,
            idempotencyKey: api.newKey(),
          });
          redraw(await api.request(`/v1/mentions/${encodeURIComponent(mention.id)}`));
          toast(t("listening.correct.done"));
        } catch (error) {
          toast(api.problemText(error), "error");
          save.disabled = false;
        }
      },
    },
    labelled(t("listening.filter.sentiment"), sentiment),
    labelled(t("listening.filter.intent"), intent),
    save,
  );
  return h("details", { class: "correct" }, h("summary", {}, t("listening.correct.title")), form);
}

// --- Queries --------------------------------------------------------------------------------------------

async function renderQueries(body, ctx, queries) {
  const editing = ctx.params[1];
  const canEdit = EDITORS.includes(ctx.user.role);
  const rows = queries.map((q) =>
    h(
      "tr",
      { dataset: { queryId: q.id } },
      h("th", { scope: "row" }, q.name),
      h("td", {}, t(`listening.kind.${q.kind}`)),
      h("td", {}, h("code", { dir: "ltr" }, q.expression)),
      h("td", {}, q.active ? t("listening.active") : t("listening.inactive")),
      h(
        "td",
        {},
        canEdit ? h("a", { href: `#/listening/queries/${encodeURIComponent(q.id)}` }, t("listening.edit")) : null,
      ),
    ),
  );
  const list = h(
    "section",
    { class: "card", "aria-labelledby": "queries-h" },
    h("h2", { id: "queries-h" }, t("listening.queries.title")),
    queries.length
      ? h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, t("listening.queries.title")),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["name", "kind", "expression", "state", "actions"].map((c) =>
                h("th", { scope: "col" }, t(`listening.queries.${c}`)),
              ),
            ),
          ),
          h("tbody", {}, rows),
        )
      : h("p", { class: "muted" }, t("listening.queries.none")),
    canEdit ? h("p", {}, h("a", { href: "#/listening/queries/new", class: "button" }, t("listening.queries.new"))) : null,
  );
  const current = editing && editing !== "new" ? queries.find((q) => q.id === editing) : null;
  replace(body, canEdit && editing ? editor(ctx, current) : null, list);
}

/** The query editor: the expression is checked through the API as the user types (debounced). */
function editor(ctx, current) {
  const name = h("input", { name: "name", required: true, maxlength: 200, value: current?.name || "" });
  const kind = select("kind", KINDS.map((k) => [k, t(`listening.kind.${k}`)]), current?.kind || "brand");
  const expression = h("textarea", {
    name: "expression",
    class: "expression",
    dir: "ltr",
    spellcheck: "false",
    autocomplete: "off",
    required: true,
    rows: 3,
    value: current?.expression || "",
  });
  const languages = h("input", { name: "languages", value: (current?.languages || []).join(", "), dir: "ltr" });
  const active = h("input", { type: "checkbox", name: "active", id: "query-active", checked: current ? current.active : true });
  const nameField = field(t("listening.queries.name"), name);
  const expressionField = field(t("listening.queries.expression"), expression, t("listening.editor.hint"));
  // Where the error is: the expression with the character at the position marked, and a caret line.
  const marked = h("pre", { class: "marked", dir: "ltr", hidden: true, id: "expression-marked" });
  const check = h("p", { class: "check-state", id: "expression-check", "aria-live": "polite" });
  expressionField.insertBefore(marked, expressionField.querySelector(".field-error"));
  expressionField.insertBefore(check, marked);
  expression.setAttribute("aria-describedby", `${expression.id}-error expression-check`);
  const form = h("form", { class: "card editor", novalidate: true, "aria-labelledby": "editor-h" });
  const submit = h("button", { type: "submit", class: "primary" }, current ? t("shell.save") : t("listening.editor.create"));
  let checking = 0;

  const showError = (problem, text) => {
    const err = (problem.errors || []).find((e) => (e.loc || []).includes("expression")) || null;
    const message = err?.msg || problem.detail || problem.title;
    setFieldError(expression, message);
    check.textContent = "";
    if (err && Number.isInteger(err.position)) {
      const at = Math.min(err.position, text.length);
      marked.dataset.position = String(err.position);
      replace(
        marked,
        text.slice(0, at),
        h("mark", { class: "at" }, text.slice(at, at + 1) || " "),
        text.slice(at + 1),
        "\n",
        h("span", { class: "caret", "aria-hidden": "true" }, `${" ".repeat(at)}^`),
      );
      marked.setAttribute("aria-label", t("listening.editor.at", { position: err.position + 1 }));
      marked.hidden = false;
      expression.setAttribute("aria-describedby", `${expression.id}-error expression-marked`);
    }
    return err;
  };
  const clearError = () => {
    setFieldError(expression, null);
    marked.hidden = true;
    delete marked.dataset.position;
    expression.setAttribute("aria-describedby", `${expression.id}-error expression-check`);
  };

  const validate = async () => {
    const text = expression.value;
    const mine = ++checking;
    if (!text.trim()) {
      clearError();
      check.textContent = "";
      return;
    }
    check.textContent = t("listening.editor.checking");
    try {
      const result = await api.request("/v1/listening/queries/validate", {
        method: "POST",
        body: { expression: text },
        signal: ctx.signal,
      });
      if (mine !== checking) return;
      clearError();
      check.textContent = t("listening.editor.valid", { normalised: result.normalised });
    } catch (error) {
      if (error.name === "AbortError" || mine !== checking) return;
      if (error.status === 422) showError(error.problem, text);
      else check.textContent = error.message;
    }
  };
  const later = debounce(validate, CHECK_MS);
  expression.addEventListener("input", later);
  ctx.signal.addEventListener("abort", () => later.cancel());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setFieldError(name, name.value.trim() ? null : t("listening.editor.name_required"));
    if (!name.value.trim() || !expression.value.trim()) return;
    later.cancel();
    const payload = {
      name: name.value.trim(),
      kind: kind.value,
      expression: expression.value,
      languages: languages.value.split(/[\s,]+/).filter(Boolean),
      active: active.checked,
    };
    if (!payload.languages.length) payload.languages = null;
    submit.disabled = true;
    try {
      const saved = current
        ? await api.request(`/v1/listening/queries/${encodeURIComponent(current.id)}`, { method: "PATCH", body: payload })
        : await api.request("/v1/listening/queries", { method: "POST", body: payload, idempotencyKey: api.newKey() });
      toast(t("listening.editor.saved", { name: saved.name }));
      ctx.navigate("listening/queries");
    } catch (error) {
      if (error.status === 422 && showError(error.problem, expression.value)) expression.focus();
      else toast(api.problemText(error), "error");
    } finally {
      submit.disabled = false;
    }
  });

  const remove = current
    ? h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (!window.confirm(t("listening.editor.confirm_delete", { name: current.name }))) return;
            try {
              await api.request(`/v1/listening/queries/${encodeURIComponent(current.id)}`, { method: "DELETE" });
              ctx.navigate("listening/queries");
            } catch (error) {
              toast(error.message, "error");
            }
          },
        },
        t("listening.editor.delete"),
      )
    : null;

  if (current) queueMicrotask(validate);
  return replace(
    form,
    h("h2", { id: "editor-h" }, current ? t("listening.editor.edit", { name: current.name }) : t("listening.editor.new")),
    nameField,
    field(t("listening.queries.kind"), kind),
    expressionField,
    field(t("listening.editor.languages"), languages, t("listening.editor.languages_hint")),
    h("div", { class: "check" }, active, h("label", { for: "query-active" }, t("listening.active"))),
    h("div", { class: "row" }, submit, h("a", { href: "#/listening/queries", class: "button" }, t("shell.cancel")), remove),
  );
}

// --- Charts ---------------------------------------------------------------------------------------------

async function renderCharts(body, ctx, queries) {
  const chosen = ctx.query.get("query") || queries[0]?.id || "";
  const picker = select("query", queries.map((q) => [q.id, q.name]), chosen);
  picker.addEventListener("change", () => ctx.navigate(hashOf("listening/charts", { query: picker.value })));
  const volume = h("section", { class: "card", "aria-labelledby": "volume-h" }, h("h2", { id: "volume-h" }, t("listening.volume.title")));
  const voice = h("section", { class: "card", "aria-labelledby": "voice-h" }, h("h2", { id: "voice-h" }, t("listening.voice.title")));
  replace(body, h("div", { class: "stack" }, volume, voice));

  if (!queries.length) volume.append(h("p", { class: "muted" }, t("listening.queries.none")));
  else {
    volume.append(labelled(t("listening.filter.query"), picker));
    try {
      const since = new Date(Date.now() - 48 * 3600 * 1000).toISOString();
      const data = await api.request(
        `/v1/listening/queries/${encodeURIComponent(chosen)}/volume?since=${encodeURIComponent(since)}`,
        { signal: ctx.signal },
      );
      const hours = fillHours(data.items, since);
      const hourLabel = (iso) => formatDate(iso, { hour: "numeric" });
      const title = t("listening.volume.chart", { name: queryName(queries, chosen) });
      volume.append(
        bars(title, hours.map((b) => ({ label: hourLabel(b.bucket_start), value: b.total }))),
        h(
          "details",
          {},
          h("summary", {}, t("listening.as_table")),
          table(
            title,
            [t("listening.volume.hour"), t("listening.volume.total"), t("listening.volume.negative")],
            hours.filter((b) => b.total).map((b) => [formatDate(b.bucket_start), formatNumber(b.total), formatNumber(b.negative)]),
          ),
        ),
      );
    } catch (error) {
      if (error.name === "AbortError") return;
      volume.append(failed(error));
    }
  }

  try {
    const sov = await api.request("/v1/listening/share-of-voice", { signal: ctx.signal });
    const title = t("listening.voice.chart", { from: formatDate(sov.since, { dateStyle: "medium" }), to: formatDate(sov.until, { dateStyle: "medium" }) });
    if (!sov.items.length) voice.append(h("p", { class: "muted" }, t("listening.voice.none")));
    else
      voice.append(
        bars(title, sov.items.map((s) => ({ label: s.name, value: s.mentions }))),
        h(
          "details",
          {},
          h("summary", {}, t("listening.as_table")),
          table(
            title,
            [t("listening.queries.name"), t("listening.queries.kind"), t("listening.voice.mentions"), t("listening.voice.share"), t("listening.voice.negative_share")],
            sov.items.map((s) => [s.name, t(`listening.kind.${s.kind}`), formatNumber(s.mentions), formatPercent(s.share * 100), s.negative_share === null ? "—" : formatPercent(s.negative_share * 100)]),
          ),
        ),
      );
  } catch (error) {
    if (error.name === "AbortError") return;
    voice.append(failed(error));
  }
}

/** Every hour from `since` to now, with the API's buckets (it leaves out empty hours). */
function fillHours(items, since) {
  const byHour = new Map(items.map((b) => [new Date(b.bucket_start).getTime(), b]));
  const start = new Date(since);
  start.setUTCMinutes(0, 0, 0);
  const hours = [];
  for (let at = start.getTime(); at <= Date.now(); at += 3600 * 1000) {
    hours.push(byHour.get(at) || { bucket_start: new Date(at).toISOString(), total: 0, negative: 0 });
  }
  return hours;
}

// --- Alerts ---------------------------------------------------------------------------------------------

async function renderAlerts(body, ctx, queries) {
  const tbody = h("tbody");
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite" });

  const row = (alert) => {
    const tr = h("tr", { dataset: { alertId: alert.id } });
    const draw = (a) =>
      replace(
        tr,
        h("th", { scope: "row" }, queryName(queries, a.query_id)),
        h("td", {}, t(`listening.alert.${a.kind}`)),
        h("td", { class: "num" }, formatNumber(a.observed, { maximumFractionDigits: 2 })),
        h("td", { class: "num" }, formatNumber(a.baseline, { maximumFractionDigits: 2 })),
        h("td", {}, h("time", { datetime: a.bucket_start }, formatDate(a.bucket_start))),
        h(
          "td",
          {},
          a.acknowledged_at
            ? h("span", { class: "badge met" }, t("listening.alert.acknowledged", { when: formatRelative(a.acknowledged_at) }))
            : h(
                "button",
                {
                  type: "button",
                  "aria-label": t("listening.alert.acknowledge_named", { name: queryName(queries, a.query_id), when: formatDate(a.bucket_start) }),
                  onclick: async (event) => {
                    event.target.disabled = true;
                    try {
                      draw(await api.request(`/v1/listening/alerts/${encodeURIComponent(a.id)}/acknowledge`, { method: "POST" }));
                      status.textContent = t("listening.alert.done");
                    } catch (error) {
                      event.target.disabled = false;
                      toast(error.message, "error");
                    }
                  },
                },
                t("listening.alert.acknowledge"),
              ),
        ),
      );
    draw(alert);
    return tr;
  };

  const { more, next } = pager(async (cursor) => {
    const page = await api.request(`/v1/listening/alerts?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
      signal: ctx.signal,
    });
    tbody.append(...page.items.map(row));
    if (!tbody.children.length) status.textContent = t("listening.alerts.none");
    return page.next_cursor;
  });

  replace(
    body,
    h(
      "section",
      { class: "card", "aria-labelledby": "alerts-h" },
      h("h2", { id: "alerts-h" }, t("listening.alerts.title")),
      status,
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, t("listening.alerts.title")),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["query", "kind", "observed", "baseline", "hour", "state"].map((c) =>
              h("th", { scope: "col", class: c === "observed" || c === "baseline" ? "num" : null }, t(`listening.alerts.${c}`)),
            ),
          ),
        ),
        tbody,
      ),
      more,
    ),
  );
  await next();
}
