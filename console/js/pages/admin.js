// Admin: channels, users and roles, API keys, partner webhooks with their delivery log, routing rules
// with the dry-run, teams with business hours, SLA policies. `#/admin/<section>[/<id>]`.
//
// A secret the API answers once (an API key, a webhook's signing secret) is shown once, with a copy
// button, and never again: leaving the section forgets it.

import * as api from "../api.js";
import { field, h, replace, setFieldError, toast } from "../dom.js";
import { formatDate, formatNumber, t } from "../i18n.js";

const SECTIONS = ["channels", "users", "keys", "webhooks", "routing", "teams", "sla"];
const PLATFORMS = {
  // The credentials each platform's channel takes (secrets are write-only) and its main setting.
  meta: { credentials: ["app_secret", "verify_token", "access_token"], settings: ["page_id"] },
  whatsapp: { credentials: ["app_secret", "verify_token", "access_token"], settings: ["phone_number_id"] },
  x: { credentials: ["consumer_secret", "access_token"], settings: [] },
  mastodon: { credentials: ["access_token"], settings: ["base_url", "hashtag"] },
  bluesky: { credentials: ["identifier", "app_password"], settings: ["base_url"] },
  rss: { credentials: [], settings: ["url"] },
  reviews: { credentials: [], settings: ["source"] },
};
const OPTIONAL = new Set(["access_token", "page_id", "phone_number_id", "hashtag", "source", "identifier", "app_password"]);
const SCOPES = [
  "mentions:read", "mentions:write", "queries:read", "queries:write", "alerts:read", "metrics:read",
  "usage:read", "channels:manage", "profiles:read", "profiles:write", "segments:read", "segments:write",
  "conversations:read", "conversations:write", "agents:read", "webhooks:manage", "routing:manage",
];
const ROLES = ["admin", "agent", "analyst", "integration"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const PURPOSES = ["engagement", "profiling", "marketing", "analytics"];

export async function render(main, ctx) {
  const section = SECTIONS.includes(ctx.params[0]) ? ctx.params[0] : "channels";
  const body = h("div", { class: "stack" });
  replace(
    main,
    h("h1", {}, t("nav.admin")),
    h(
      "nav",
      { class: "tabs", "aria-label": t("admin.sections") },
      SECTIONS.map((s) => h("a", { href: `#/admin/${s}`, "aria-current": s === section ? "page" : false }, t(`admin.${s}`))),
    ),
    body,
  );
  await DRAW[section](body, ctx, ctx.params.slice(1));
}

// ---- small pieces ---------------------------------------------------------------------------------

/** A form whose submit runs `action`; its errors show in the form, its success re-renders the section. */
function form(title, controls, label, action) {
  const message = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, label);
  return h(
    "form",
    {
      class: "card",
      "aria-label": title,
      onsubmit: async (event) => {
        event.preventDefault();
        message.textContent = "";
        submit.disabled = true;
        try {
          await action();
        } catch (error) {
          message.textContent = api.problemText(error);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, title),
    controls,
    message,
    submit,
  );
}

function listTable(caption, columns, rows) {
  return h(
    "table",
    {},
    h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, t("shell.empty")))),
  );
}

/** A secret the API shows once: visible now, with a copy button; gone when the user leaves. */
function secretOnce(label, value) {
  const output = h("output", { class: "secret", "aria-label": label }, value);
  return h(
    "div",
    { class: "card secret-once", role: "alert" },
    h("h2", {}, label),
    h("p", {}, t("admin.secret_once")),
    output,
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          await navigator.clipboard.writeText(value).catch(() => {});
          toast(t("admin.copied"));
        },
      },
      t("admin.copy"),
    ),
  );
}

/** A channel field's label, saying when it may be left empty. */
function fieldLabel(key) {
  return `${t(`admin.field.${key}`)}${OPTIONAL.has(key) ? ` ${t("admin.optional")}` : ""}`;
}

function button(label, onclick, cls = null, aria = null) {
  return h("button", { type: "button", class: cls, onclick, "aria-label": aria }, label);
}

async function act(fn, done) {
  try {
    await fn();
    await done();
  } catch (error) {
    toast(api.problemText(error), "error");
  }
}

// Actions whose `false` is the same as leaving them out.
const OFF_BY_DEFAULT = new Set(["escalate", "requeue"]);

/** Conditions, actions or a decision as JSON, without the fields left unset (null, [], default off). */
function json(value) {
  const unset = (k, v) => v === null || (Array.isArray(v) && !v.length) || (OFF_BY_DEFAULT.has(k) && v === false);
  return h("code", { class: "json" }, JSON.stringify(Object.fromEntries(Object.entries(value || {}).filter(([k, v]) => !unset(k, v)))));
}

function parseJson(control) {
  try {
    setFieldError(control, null);
    return control.value.trim() ? JSON.parse(control.value) : {};
  } catch {
    setFieldError(control, t("admin.bad_json"));
    throw new Error(t("admin.bad_json"));
  }
}

// ---- sections ---------------------------------------------------------------------------------------

const DRAW = {
  async channels(body, ctx) {
    const channels = await api.all("/v1/channels?limit=100", { signal: ctx.signal });
    const redraw = () => DRAW.channels(body, ctx);
    const platform = h("select", { name: "platform" }, Object.keys(PLATFORMS).map((p) => h("option", { value: p }, t(`admin.platform.${p}`))));
    const name = h("input", { type: "text", name: "name", required: true });
    const fields = h("div", { class: "grid" });
    const inputs = {};
    const drawFields = () => {
      const spec = PLATFORMS[platform.value];
      for (const key of Object.keys(inputs)) delete inputs[key];
      replace(
        fields,
        [...spec.credentials.map((k) => ["credentials", k]), ...spec.settings.map((k) => ["settings", k])].map(([kind, key]) => {
          const control = h("input", { type: kind === "credentials" ? "password" : "text", name: key, autocomplete: "off" });
          inputs[key] = { kind, control };
          return field(fieldLabel(key), control);
        }),
      );
    };
    platform.addEventListener("change", drawFields);
    drawFields();
    const create = form(t("admin.channel_new"), [field(t("admin.platform"), platform), field(t("admin.name"), name), fields], t("admin.connect"), async () => {
      const payload = { platform: platform.value, name: name.value.trim(), credentials: {}, settings: {} };
      for (const [key, { kind, control }] of Object.entries(inputs)) if (control.value.trim()) payload[kind][key] = control.value.trim();
      await api.request("/v1/channels", { method: "POST", body: payload, idempotencyKey: api.newKey() });
      toast(t("admin.saved"));
      await redraw();
    });
    const rows = channels.map((c) => {
      const status = c.status || {};
      return h(
        "tr",
        { dataset: { id: c.id } },
        h("th", { scope: "row" }, c.name, h("br"), h("span", { class: "muted" }, t(`admin.platform.${c.platform}`))),
        h(
          "td",
          {},
          c.inbound_url
            ? [h("code", { class: "url" }, new URL(c.inbound_url, location.origin).href), " ", button(t("admin.copy"), () => navigator.clipboard.writeText(new URL(c.inbound_url, location.origin).href).then(() => toast(t("admin.copied"))), null, t("admin.copy_url", { name: c.name }))]
            : h("span", { class: "muted" }, t("admin.pulled")),
        ),
        h(
          "td",
          {},
          c.inbound_url
            ? [
                status.verified_at
                  ? h("span", { class: "badge met" }, t("admin.verified", { when: formatDate(status.verified_at) }))
                  : h("span", { class: "badge at-risk" }, t("admin.not_verified")),
                h("br"),
              ]
            : null,
          status.last_success_at ? t("admin.last_delivery", { when: formatDate(status.last_success_at) }) : t("admin.no_delivery"),
          status.last_error ? [h("br"), h("span", { class: "badge breached" }, t("admin.failing", { n: status.failures })), " ", status.last_error] : null,
          h("br"),
          h("span", { class: "muted" }, t("admin.ingested", { n: status.ingested || 0 })),
        ),
        h("td", {}, (c.credentials_set || []).join(", ") || "—"),
        h(
          "td",
          { class: "actions" },
          PLATFORMS[c.platform].credentials.length ? button(t("admin.rotate"), () => rotateChannel(body, c, redraw), null, t("admin.rotate_for", { name: c.name })) : null,
          button(t("admin.delete"), () => confirm(t("admin.delete_confirm", { name: c.name })) && act(() => api.request(`/v1/channels/${c.id}`, { method: "DELETE" }), redraw), "danger", t("admin.delete_for", { name: c.name })),
        ),
      );
    });
    replace(body, listTable(t("admin.channels"), [t("admin.name"), t("admin.webhook_url"), t("admin.status"), t("admin.credentials"), t("admin.actions")], rows), create);
  },

  async users(body, ctx) {
    const users = await api.all("/v1/users?limit=100", { signal: ctx.signal });
    const redraw = () => DRAW.users(body, ctx);
    const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off" });
    const display = h("input", { type: "text", name: "display_name" });
    const role = h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
    const password = h("input", { type: "password", name: "password", required: true, autocomplete: "new-password" });
    const rows = users.map((u) =>
      h(
        "tr",
        { dataset: { id: u.id } },
        h("th", { scope: "row" }, u.display_name || u.email, h("br"), h("span", { class: "muted" }, u.email)),
        h(
          "td",
          {},
          u.role === "owner"
            ? t("role.owner")
            : h(
                "select",
                {
                  "aria-label": t("admin.role_of", { name: u.email }),
                  onchange: (e) => act(() => api.request(`/v1/users/${u.id}`, { method: "PATCH", body: { role: e.target.value } }), redraw),
                },
                ROLES.map((r) => h("option", { value: r, selected: r === u.role }, t(`role.${r}`))),
              ),
        ),
        h("td", {}, u.active ? t("admin.active") : t("admin.inactive")),
        h(
          "td",
          {},
          u.role === "owner"
            ? null
            : button(u.active ? t("admin.deactivate") : t("admin.reactivate"), () => act(() => api.request(`/v1/users/${u.id}`, { method: "PATCH", body: { active: !u.active } }), redraw), u.active ? "danger" : null, t(u.active ? "admin.deactivate_for" : "admin.reactivate_for", { name: u.email })),
        ),
      ),
    );
    replace(
      body,
      listTable(t("admin.users"), [t("admin.user"), t("admin.role"), t("admin.status"), t("admin.actions")], rows),
      form(t("admin.user_new"), h("div", { class: "grid" }, field(t("admin.email"), email), field(t("admin.display_name"), display), field(t("admin.role"), role), field(t("admin.password"), password, t("admin.password_hint"))), t("admin.invite"), async () => {
        await api.request("/v1/users", { method: "POST", body: { email: email.value.trim(), display_name: display.value.trim() || null, role: role.value, password: password.value } });
        toast(t("admin.saved"));
        await redraw();
      }),
    );
  },

  async keys(body, ctx, _params, shown = null) {
    const keys = await api.all("/v1/api-keys?limit=100", { signal: ctx.signal });
    const redraw = (secret = null) => DRAW.keys(body, ctx, [], secret);
    const name = h("input", { type: "text", name: "name", required: true });
    const boxes = SCOPES.map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", value: s }), s));
    const rows = keys.map((k) =>
      h(
        "tr",
        { dataset: { id: k.id } },
        h("th", { scope: "row" }, k.name, h("br"), h("code", {}, `${k.prefix}…`)),
        h("td", {}, k.scopes.join(" ")),
        h("td", {}, k.last_used_at ? formatDate(k.last_used_at) : t("admin.never")),
        h("td", {}, k.revoked_at ? h("span", { class: "badge breached" }, t("admin.revoked")) : button(t("admin.revoke"), () => act(() => api.request(`/v1/api-keys/${k.id}`, { method: "DELETE" }), () => redraw()), "danger", t("admin.revoke_for", { name: k.name }))),
      ),
    );
    replace(
      body,
      shown ? secretOnce(t("admin.key_created"), shown) : null,
      listTable(t("admin.keys"), [t("admin.name"), t("admin.scopes"), t("admin.last_used"), t("admin.actions")], rows),
      form(t("admin.key_new"), [field(t("admin.name"), name), h("fieldset", { class: "scopes" }, h("legend", {}, t("admin.scopes")), boxes)], t("admin.create"), async () => {
        const scopes = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
        const created = await api.request("/v1/api-keys", { method: "POST", body: { name: name.value.trim(), scopes } });
        await redraw(created.key);
      }),
    );
  },

  async webhooks(body, ctx, params, shown = null) {
    if (params[0]) return deliveries(body, ctx, params[0]);
    const [subs, types] = await Promise.all([
      api.all("/v1/webhooks/subscriptions?limit=100", { signal: ctx.signal }),
      api.request("/v1/webhooks/event-types", { signal: ctx.signal }),
    ]);
    const redraw = (secret = null) => DRAW.webhooks(body, ctx, [], secret);
    const url = h("input", { type: "url", name: "url", required: true, placeholder: "https://" });
    const purpose = h("select", { name: "purpose" }, PURPOSES.map((p) => h("option", { value: p }, t(`privacy.purpose.${p}`))));
    const boxes = types.items.map((e) => h("label", { class: "check", title: e.description }, h("input", { type: "checkbox", value: e.type }), e.type));
    const rows = subs.map((s) =>
      h(
        "tr",
        { dataset: { id: s.id } },
        h("th", { scope: "row" }, h("a", { href: `#/admin/webhooks/${encodeURIComponent(s.id)}` }, s.url)),
        h("td", {}, s.event_types.join(", ")),
        h("td", {}, h("span", { class: `badge ${s.status === "active" ? "met" : "breached"}` }, t(`admin.sub.${s.status}`)), s.consecutive_failures ? ` · ${t("admin.failures", { n: s.consecutive_failures })}` : ""),
        h(
          "td",
          { class: "actions" },
          s.status === "active"
            ? button(t("admin.pause"), () => act(() => api.request(`/v1/webhooks/subscriptions/${s.id}/pause`, { method: "POST" }), () => redraw()))
            : button(t("admin.resume"), () => act(() => api.request(`/v1/webhooks/subscriptions/${s.id}/resume`, { method: "POST" }), () => redraw())),
          button(t("admin.send_test"), () => act(() => api.request(`/v1/webhooks/subscriptions/${s.id}/test`, { method: "POST" }), () => toast(t("admin.test_sent")))),
          button(t("admin.rotate"), async () => {
            try {
              const rotated = await api.request(`/v1/webhooks/subscriptions/${s.id}/rotate-secret`, { method: "POST" });
              await redraw(rotated.secret);
            } catch (error) {
              toast(api.problemText(error), "error");
            }
          }, null, t("admin.rotate_secret_for", { name: s.url })),
          button(t("admin.delete"), () => confirm(t("admin.delete_confirm", { name: s.url })) && act(() => api.request(`/v1/webhooks/subscriptions/${s.id}`, { method: "DELETE" }), () => redraw()), "danger", t("admin.delete_for", { name: s.url })),
        ),
      ),
    );
    replace(
      body,
      shown ? secretOnce(t("admin.webhook_secret"), shown) : null,
      listTable(t("admin.webhooks"), [t("admin.url"), t("admin.events"), t("admin.status"), t("admin.actions")], rows),
      form(t("admin.webhook_new"), [field(t("admin.url"), url), field(t("admin.purpose"), purpose, t("admin.purpose_hint")), h("fieldset", { class: "scopes" }, h("legend", {}, t("admin.events")), boxes)], t("admin.create"), async () => {
        const event_types = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
        const created = await api.request("/v1/webhooks/subscriptions", { method: "POST", body: { url: url.value.trim(), event_types, purpose: purpose.value }, idempotencyKey: api.newKey() });
        await redraw(created.secret);
      }),
    );
  },

  async routing(body, ctx) {
    const [rules, teams] = await Promise.all([
      api.request("/v1/routing/rules", { signal: ctx.signal }),
      api.all("/v1/teams?limit=100", { signal: ctx.signal }),
    ]);
    const redraw = () => DRAW.routing(body, ctx);
    const teamName = Object.fromEntries(teams.map((x) => [x.id, x.name]));
    const rows = rules.items.map((r) =>
      h(
        "tr",
        { dataset: { id: r.id } },
        h("td", { class: "num" }, formatNumber(r.position)),
        h("th", { scope: "row" }, r.name, h("br"), h("span", { class: "muted" }, t(`admin.trigger.${r.trigger}`))),
        h("td", {}, json(r.conditions)),
        h("td", {}, r.actions.team_id ? `${t("admin.team")}: ${teamName[r.actions.team_id] || r.actions.team_id} ` : "", json(r.actions)),
        h(
          "td",
          { class: "actions" },
          h("label", { class: "check" }, h("input", { type: "checkbox", checked: r.enabled, onchange: (e) => act(() => api.request(`/v1/routing/rules/${r.id}`, { method: "PATCH", body: { enabled: e.target.checked } }), redraw) }), t("admin.enabled")),
          button(t("admin.delete"), () => confirm(t("admin.delete_confirm", { name: r.name })) && act(() => api.request(`/v1/routing/rules/${r.id}`, { method: "DELETE" }), redraw), "danger", t("admin.delete_for", { name: r.name })),
        ),
      ),
    );
    const name = h("input", { type: "text", name: "name", required: true });
    const trigger = h("select", { name: "trigger" }, ["mention", "sla_warning", "sla_breached"].map((x) => h("option", { value: x }, t(`admin.trigger.${x}`))));
    const conditions = h("textarea", { name: "conditions", spellcheck: "false" }, '{"intents": ["complaint"]}');
    const actions = h("textarea", { name: "actions", spellcheck: "false" }, '{"priority": "high"}');
    const create = form(t("admin.rule_new"), [field(t("admin.name"), name), field(t("admin.trigger"), trigger), field(t("admin.conditions"), conditions, t("admin.conditions_hint")), field(t("admin.rule_actions"), actions, t("admin.actions_hint"))], t("admin.create"), async () => {
      await api.request("/v1/routing/rules", { method: "POST", body: { name: name.value.trim(), trigger: trigger.value, conditions: parseJson(conditions), actions: parseJson(actions) } });
      toast(t("admin.saved"));
      await redraw();
    });
    // The dry-run: what the rules would decide for a sample post, rule by rule.
    const text = h("textarea", { name: "text" }, "");
    const intent = h("select", { name: "intent" }, ["complaint", "question", "praise", "purchase_intent", "other"].map((x) => h("option", { value: x }, t(`admin.intent.${x}`))));
    const sentiment = h("select", { name: "sentiment" }, ["negative", "neutral", "positive"].map((x) => h("option", { value: x }, t(`admin.sentiment.${x}`))));
    const language = h("input", { type: "text", name: "language", value: "en", size: 5 });
    const platform = h("input", { type: "text", name: "platform", value: "x", size: 10 });
    const result = h("div", { class: "dry-run", "aria-live": "polite" });
    const dry = form(t("admin.dry_run"), [field(t("admin.sample_text"), text), h("div", { class: "row" }, field(t("admin.intent"), intent), field(t("admin.sentiment"), sentiment), field(t("admin.language"), language), field(t("admin.platform"), platform))], t("admin.try"), async () => {
      const r = await api.request("/v1/routing/dry-run", { method: "POST", body: { text: text.value, intent: intent.value, sentiment: sentiment.value, language: language.value.trim(), platform: platform.value.trim() } });
      replace(
        result,
        h("p", {}, r.default ? t("admin.dry_default") : t("admin.dry_rule", { name: r.rule_name }), " — ", r.reason),
        h("p", {}, t("admin.dry_decision"), " ", json(r.decision)),
        h("ol", {}, r.rules.map((x) => h("li", {}, `${x.name}: `, x.matched ? t("admin.matched") : t("admin.not_matched")))),
      );
    });
    replace(body, listTable(t("admin.routing"), [t("admin.position"), t("admin.name"), t("admin.conditions"), t("admin.rule_actions"), t("admin.actions")], rows), create, dry, result);
  },

  async teams(body, ctx) {
    const teams = await api.all("/v1/teams?limit=100", { signal: ctx.signal });
    const redraw = () => DRAW.teams(body, ctx);
    const name = h("input", { type: "text", name: "name", required: true });
    const languages = h("input", { type: "text", name: "languages", placeholder: "en, ar" });
    const topics = h("input", { type: "text", name: "topics" });
    const zone = h("input", { type: "text", name: "timezone", value: Intl.DateTimeFormat().resolvedOptions().timeZone });
    const always = h("input", { type: "checkbox", name: "always_open" });
    const weekly = h("textarea", { name: "weekly", spellcheck: "false" }, '{"mon": [{"start": "09:00", "end": "17:00"}], "tue": [{"start": "09:00", "end": "17:00"}], "wed": [{"start": "09:00", "end": "17:00"}], "thu": [{"start": "09:00", "end": "17:00"}], "fri": [{"start": "09:00", "end": "17:00"}]}');
    const list = (control) => control.value.split(",").map((x) => x.trim()).filter(Boolean);
    const rows = teams.map((x) =>
      h(
        "tr",
        { dataset: { id: x.id } },
        h("th", { scope: "row" }, x.name),
        h("td", {}, x.languages.join(", ") || "—"),
        h("td", {}, x.topics.join(", ") || "—"),
        h("td", {}, x.business_hours ? (x.business_hours.always_open ? t("admin.always_open") : `${x.business_hours.timezone}: ${Object.keys(x.business_hours.weekly).join(" ")}`) : t("admin.always_open")),
        h("td", { class: "num" }, formatNumber((x.member_ids || []).length)),
        h("td", {}, button(t("admin.delete"), () => confirm(t("admin.delete_confirm", { name: x.name })) && act(() => api.request(`/v1/teams/${x.id}`, { method: "DELETE" }), redraw), "danger", t("admin.delete_for", { name: x.name }))),
      ),
    );
    replace(
      body,
      listTable(t("admin.teams"), [t("admin.name"), t("admin.languages"), t("admin.topics"), t("admin.hours"), t("admin.members"), t("admin.actions")], rows),
      form(t("admin.team_new"), [h("div", { class: "grid" }, field(t("admin.name"), name), field(t("admin.languages"), languages, t("admin.comma")), field(t("admin.topics"), topics, t("admin.comma")), field(t("admin.timezone"), zone)), h("label", { class: "check" }, always, t("admin.always_open")), field(t("admin.weekly"), weekly, t("admin.weekly_hint"))], t("admin.create"), async () => {
        const business_hours = { timezone: zone.value.trim() || "UTC", always_open: always.checked, weekly: always.checked ? {} : parseJson(weekly) };
        await api.request("/v1/teams", { method: "POST", body: { name: name.value.trim(), languages: list(languages), topics: list(topics), business_hours } });
        toast(t("admin.saved"));
        await redraw();
      }),
    );
  },

  async sla(body, ctx) {
    const policies = await api.request("/v1/sla-policies", { signal: ctx.signal });
    const redraw = () => DRAW.sla(body, ctx);
    const by = Object.fromEntries(policies.items.map((p) => [p.priority, p]));
    const minutes = (s) => (s === null || s === undefined ? "" : String(Math.round(s / 60)));
    const rows = PRIORITIES.map((priority) => {
      const p = by[priority] || {};
      const first = h("input", { type: "number", min: 1, value: minutes(p.first_response_s), "aria-label": t("admin.first_response_for", { priority: t(`admin.priority.${priority}`) }) });
      const resolution = h("input", { type: "number", min: 1, value: minutes(p.resolution_s), "aria-label": t("admin.resolution_for", { priority: t(`admin.priority.${priority}`) }) });
      const hours = h("input", { type: "checkbox", checked: Boolean(p.business_hours), "aria-label": t("admin.business_hours_for", { priority: t(`admin.priority.${priority}`) }) });
      return h(
        "tr",
        { dataset: { priority } },
        h("th", { scope: "row" }, t(`admin.priority.${priority}`)),
        h("td", {}, first),
        h("td", {}, resolution),
        h("td", {}, hours),
        h(
          "td",
          { class: "actions" },
          button(t("shell.save"), () => act(() => api.request(`/v1/sla-policies/${priority}`, { method: "PUT", body: { first_response_s: first.value ? Number(first.value) * 60 : null, resolution_s: resolution.value ? Number(resolution.value) * 60 : null, business_hours: hours.checked } }).then(() => toast(t("admin.saved"))), redraw), "primary", t("admin.save_for", { priority: t(`admin.priority.${priority}`) })),
          by[priority] ? button(t("admin.delete"), () => act(() => api.request(`/v1/sla-policies/${priority}`, { method: "DELETE" }), redraw), "danger", t("admin.delete_for", { name: t(`admin.priority.${priority}`) })) : null,
        ),
      );
    });
    replace(body, listTable(t("admin.sla"), [t("admin.priority"), t("admin.first_response_min"), t("admin.resolution_min"), t("admin.business_hours"), t("admin.actions")], rows));
  },
};

/** A channel's new credentials (they replace the stored ones whole; the old ones stop working). */
function rotateChannel(body, channel, redraw) {
  const inputs = PLATFORMS[channel.platform].credentials.map((key) => [key, h("input", { type: "password", autocomplete: "off" })]);
  const dialog = h(
    "dialog",
    { class: "card", "aria-labelledby": "rotate-h" },
    h("h2", { id: "rotate-h" }, t("admin.rotate_title", { name: channel.name })),
    h("p", { class: "muted" }, t("admin.rotate_hint")),
    inputs.map(([key, control]) => field(fieldLabel(key), control)),
    h(
      "div",
      { class: "row" },
      button(t("admin.rotate"), async () => {
        const credentials = Object.fromEntries(inputs.filter(([, c]) => c.value.trim()).map(([k, c]) => [k, c.value.trim()]));
        try {
          await api.request(`/v1/channels/${channel.id}`, { method: "PATCH", body: { credentials } });
          dialog.close();
          toast(t("admin.saved"));
          await redraw();
        } catch (error) {
          toast(api.problemText(error), "error");
        }
      }, "primary"),
      button(t("shell.cancel"), () => dialog.close()),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  body.append(dialog);
  dialog.showModal();
}

/** One subscription's delivery log: status filter, replay one, replay every dead one. */
async function deliveries(body, ctx, id) {
  const status = ctx.query.get("status") || "";
  const base = `/v1/webhooks/subscriptions/${encodeURIComponent(id)}`;
  const [sub, page] = await Promise.all([
    api.request(base, { signal: ctx.signal }),
    api.request(`${base}/deliveries?limit=50${status ? `&status=${status}` : ""}`, { signal: ctx.signal }),
  ]);
  const redraw = () => deliveries(body, ctx, id);
  const filter = h(
    "select",
    { "aria-label": t("admin.status"), onchange: (e) => ctx.navigate(`admin/webhooks/${encodeURIComponent(id)}${e.target.value ? `?status=${e.target.value}` : ""}`) },
    h("option", { value: "" }, t("privacy.any")),
    ["pending", "succeeded", "failed", "dead"].map((s) => h("option", { value: s, selected: s === status }, t(`admin.delivery.${s}`))),
  );
  const rows = page.items.map((d) =>
    h(
      "tr",
      { dataset: { id: d.id } },
      h("td", {}, formatDate(d.created_at)),
      h("th", { scope: "row" }, d.event_type),
      h("td", {}, h("span", { class: `badge ${d.status === "succeeded" ? "met" : d.status === "pending" ? "" : "breached"}` }, t(`admin.delivery.${d.status}`))),
      h("td", { class: "num" }, formatNumber(d.attempts)),
      h("td", {}, d.last_status_code ? String(d.last_status_code) : "—", d.last_error ? ` ${d.last_error}` : ""),
      h("td", {}, d.status === "succeeded" || d.status === "pending" ? null : button(t("admin.replay"), () => act(() => api.request(`${base}/deliveries/${d.id}/replay`, { method: "POST" }), redraw), null, t("admin.replay_for", { id: d.id }))),
    ),
  );
  replace(
    body,
    h("h2", {}, sub.url),
    h("p", {}, h("a", { href: "#/admin/webhooks" }, t("admin.back")), " · ", t(`admin.sub.${sub.status}`)),
    h("div", { class: "row" }, filter, button(t("admin.replay_dead"), () => act(() => api.request(`${base}/deliveries/replay-dead`, { method: "POST" }), redraw))),
    listTable(t("admin.deliveries"), [t("privacy.when"), t("admin.event"), t("admin.status"), t("admin.attempts"), t("admin.last_answer"), t("admin.actions")], rows),
  );
}
