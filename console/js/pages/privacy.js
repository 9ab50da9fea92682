// Privacy: a person's consents and their history, export, erasure with its per-service progress and
// certificate, and the audit log.
//
//   #/privacy                      find a person; the requests (exports, erasures)
//   #/privacy/person/<profile_id>  their consents, objections, history; export or erase them
//   #/privacy/request/<kind>/<id>  one export or erasure: each service's answer, the certificate
//   #/privacy/audit?purpose=…      the audit log, filtered

import * as api from "../api.js";
import { download, field, h, pager, replace, toast } from "../dom.js";
import { formatDate, formatNumber, t } from "../i18n.js";
import { select } from "../insight/common.js";

const PURPOSES = ["engagement", "profiling", "marketing", "analytics"];
const POLL_MS = 2000;

export async function render(main, ctx) {
  const [view, ...rest] = ctx.params;
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": t("privacy.sections") },
    h("a", { href: "#/privacy", "aria-current": view === "audit" ? false : "page" }, t("privacy.people")),
    h("a", { href: "#/privacy/audit", "aria-current": view === "audit" ? "page" : false }, t("privacy.audit")),
  );
  const body = h("div", { class: "stack" });
  replace(main, h("h1", {}, t("nav.privacy")), tabs, body);
  if (view === "person" && rest[0]) return person(body, rest[0], ctx);
  if (view === "request" && rest[1]) return request(body, rest[0], rest[1], ctx);
  if (view === "audit") return audit(body, ctx);
  return overview(body, ctx);
}

/** Find a person by handle (and platform) or profile id; list the privacy requests. */
async function overview(body, ctx) {
  const handle = h("input", { type: "search", name: "handle", placeholder: "@handle" });
  const platforms = ["x", "meta", "instagram", "whatsapp", "tiktok", "youtube", "reddit", "trustpilot", "email"];
  const platform = select("platform", platforms.map((p) => [p, p]), "", t("privacy.any_platform"));
  const found = h("div", { "aria-live": "polite" });
  const search = h(
    "form",
    {
      class: "card row",
      role: "search",
      onsubmit: async (event) => {
        event.preventDefault();
        const value = handle.value.trim();
        if (!value) return;
        if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
          ctx.navigate(`privacy/person/${encodeURIComponent(value)}`);
          return;
        }
        const params = new URLSearchParams({ handle: value, limit: "20" });
        if (platform.value) params.set("platform", platform.value);
        try {
          const page = await api.request(`/v1/profiles?${params}`, { signal: ctx.signal });
          replace(
            found,
            page.items.length
              ? h(
                  "ul",
                  { class: "plain" },
                  page.items.map((p) =>
                    h(
                      "li",
                      {},
                      h(
                        "a",
                        { href: `#/privacy/person/${encodeURIComponent(p.id)}` },
                        p.display_name || p.id,
                      ),
                      " ",
                      h("span", { class: "muted" }, p.handles.map((x) => `${x.platform}:@${x.handle}`).join(", ")),
                    ),
                  ),
                )
              : h("p", { class: "muted" }, t("privacy.nobody")),
          );
        } catch (error) {
          replace(found, h("p", { class: "form-error", role: "alert" }, api.problemText(error)));
        }
      },
    },
    field(t("privacy.handle_or_id"), handle),
    field(t("privacy.platform"), platform),
    h("button", { type: "submit", class: "primary" }, t("privacy.find")),
  );
  const exports = h("section", { "aria-labelledby": "exports-h" });
  const erasures = h("section", { "aria-labelledby": "erasures-h" });
  replace(body, search, found, h("div", { class: "grid two" }, exports, erasures));
  await Promise.all([requests(exports, "exports", ctx), requests(erasures, "erasures", ctx)]);
}

async function requests(box, kind, ctx) {
  const title = h("h2", { id: `${kind}-h` }, t(`privacy.${kind}`));
  const rows = h("tbody");
  const { more, next } = pager(async (cursor) => {
    const path = `/v1/privacy/${kind}?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await api.request(path, { signal: ctx.signal });
    for (const r of page.items) {
      rows.append(
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/privacy/request/${kind}/${encodeURIComponent(r.id)}` }, r.id)),
          h("td", {}, h("span", { class: `badge ${r.overdue ? "breached" : r.status}` }, t(`privacy.status.${r.status}`))),
          h("td", {}, formatDate(r.created_at)),
          h("td", {}, formatDate(r.due_at, { dateStyle: "medium" })),
        ),
      );
    }
    return page.next_cursor;
  });
  replace(
    box,
    title,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["privacy.request", "privacy.status_h", "privacy.asked", "privacy.due"].map((k) =>
            h("th", { scope: "col" }, t(k)),
          ),
        ),
      ),
      rows,
    ),
    more,
  );
  await next();
}

/** One person: consent per purpose (grant, withdraw), objections, the ledger's history; export, erase. */
async function person(body, profileId, ctx) {
  const id = encodeURIComponent(profileId);
  let view;
  try {
    view = await api.request(`/v1/profiles/${id}/consents?limit=50`, { signal: ctx.signal });
  } catch (error) {
    replace(body, h("p", { class: "form-error", role: "alert" }, error.message));
    return;
  }
  const write = async (purpose, status) => {
    try {
      view = await api.request(`/v1/profiles/${id}/consents/${purpose}`, {
        method: "PUT",
        body: { status, source: "agent", evidence: { via: "console" } },
      });
      toast(t("privacy.recorded"));
      draw();
    } catch (error) {
      toast(api.problemText(error), "error");
    }
  };
  const ask = async (kind) => {
    if (kind === "erasures" && !(await confirmErasure(body, profileId))) return;
    try {
      const created = await api.request(`/v1/privacy/${kind}`, {
        method: "POST",
        body: { profile_id: profileId },
        idempotencyKey: api.newKey(),
      });
      ctx.navigate(`privacy/request/${kind}/${encodeURIComponent(created.id)}`);
    } catch (error) {
      toast(api.problemText(error), "error");
    }
  };
  const draw = () => {
    const states = new Map(view.purposes.map((p) => [p.purpose, p]));
    replace(
      body,
      h("h2", {}, t("privacy.person", { id: view.profile_id })),
      view.merged_into
        ? h("p", { class: "muted" }, t("privacy.merged_into", { id: view.merged_into }))
        : null,
      view.restricted ? h("p", { class: "badge breached" }, t("privacy.restricted")) : null,
      h(
        "table",
        { class: "consents" },
        h("caption", { class: "muted" }, t("privacy.consents")),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["privacy.purpose", "privacy.consent", "privacy.basis", "privacy.decision", "privacy.change"].map((k) =>
              h("th", { scope: "col" }, t(k)),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          PURPOSES.map((purpose) => {
            const s = states.get(purpose) || { status: null, basis: "consent", decision: {} };
            const granted = s.status === "granted";
            return h(
              "tr",
              { dataset: { purpose } },
              h("th", { scope: "row" }, t(`privacy.purpose.${purpose}`)),
              h("td", {}, s.status ? t(`privacy.consent.${s.status}`) : t("privacy.consent.none")),
              h("td", {}, t(`privacy.basis.${s.basis}`)),
              h(
                "td",
                {},
                h(
                  "span",
                  { class: `badge ${s.decision?.allowed ? "met" : "breached"}` },
                  s.decision?.allowed ? t("privacy.allowed") : t("privacy.refused"),
                ),
                s.objected ? ` · ${t("privacy.objected")}` : "",
              ),
              h(
                "td",
                {},
                h(
                  "button",
                  {
                    type: "button",
                    class: granted ? "danger" : null,
                    onclick: () => write(purpose, granted ? "withdrawn" : "granted"),
                    "aria-label": t(granted ? "privacy.withdraw_for" : "privacy.grant_for", {
                      purpose: t(`privacy.purpose.${purpose}`),
                    }),
                  },
                  t(granted ? "privacy.withdraw" : "privacy.grant"),
                ),
              ),
            );
          }),
        ),
      ),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", onclick: () => ask("exports") }, t("privacy.export")),
        h("button", { type: "button", class: "danger", onclick: () => ask("erasures") }, t("privacy.erase")),
      ),
      h("h3", {}, t("privacy.history")),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["privacy.when", "privacy.kind", "privacy.purpose", "privacy.status_h", "privacy.source", "privacy.by"].map((k) =>
              h("th", { scope: "col" }, t(k)),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          view.history.items.map((e) =>
            h(
              "tr",
              {},
              h("td", {}, formatDate(e.created_at)),
              h("td", {}, t(`privacy.kind.${e.kind}`)),
              h("td", {}, e.purpose ? t(`privacy.purpose.${e.purpose}`) : "—"),
              h("td", {}, e.status),
              h("td", {}, e.source),
              h("td", {}, e.by_user_id || "—"),
            ),
          ),
        ),
      ),
    );
  };
  draw();
}

/** Erasure cannot be undone: the admin types the profile id to confirm. */
function confirmErasure(body, profileId) {
  return new Promise((resolve) => {
    const typed = h("input", { type: "text", autocomplete: "off" });
    const dialog = h(
      "dialog",
      { class: "card", "aria-labelledby": "erase-h" },
      h("h2", { id: "erase-h" }, t("privacy.erase_title")),
      h("p", {}, t("privacy.erase_warning")),
      field(t("privacy.erase_type", { id: profileId }), typed),
      h(
        "div",
        { class: "row" },
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () => {
              if (typed.value.trim() !== profileId) {
                typed.setAttribute("aria-invalid", "true");
                typed.focus();
                return;
              }
              dialog.close();
              resolve(true);
            },
          },
          t("privacy.erase_confirm"),
        ),
        h("button", { type: "button", onclick: () => (dialog.close(), resolve(false)) }, t("shell.cancel")),
      ),
    );
    dialog.addEventListener("cancel", () => resolve(false));
    dialog.addEventListener("close", () => dialog.remove());
    body.append(dialog);
    dialog.showModal();
    typed.focus();
  });
}

/** One export or erasure, polled until it completes: each service's answer, then the certificate. */
async function request(body, kind, requestId, ctx) {
  const path = `/v1/privacy/${kind === "exports" ? "exports" : "erasures"}/${encodeURIComponent(requestId)}`;
  const draw = (r) => {
    const done = r.status === "completed";
    replace(
      body,
      h("h2", {}, t(`privacy.${kind}.one`, { id: r.id })),
      h(
        "p",
        {},
        h("span", { class: `badge ${r.overdue ? "breached" : r.status}`, id: "request-status" }, t(`privacy.status.${r.status}`)),
        " ",
        t("privacy.due_on", { date: formatDate(r.due_at, { dateStyle: "long" }) }),
      ),
      h(
        "table",
        { class: "progress" },
        h("caption", { class: "muted" }, t("privacy.services")),
        h(
          "thead",
          {},
          h("tr", {}, ["privacy.service", "privacy.answered", "privacy.counts"].map((k) => h("th", { scope: "col" }, t(k)))),
        ),
        h(
          "tbody",
          {},
          r.services.map((s) =>
            h(
              "tr",
              { dataset: { service: s.service } },
              h("th", { scope: "row" }, s.service),
              h("td", {}, s.answered ? `✓ ${formatDate(s.answered_at)}` : t("privacy.waiting")),
              h(
                "td",
                {},
                Object.entries(s.counts)
                  .map(([k, v]) => `${k}: ${formatNumber(v)}`)
                  .join(", ") || "—",
              ),
            ),
          ),
        ),
      ),
      done && kind === "exports"
        ? h(
            "button",
            {
              type: "button",
              class: "primary",
              onclick: async () => {
                const bundle = await api.request(`${path}/download`);
                download(`rapport-export-${r.id}.json`, JSON.stringify(bundle, null, 2), "application/json");
              },
            },
            t("privacy.download"),
          )
        : null,
      r.certificate
        ? h(
            "section",
            { class: "card", "aria-labelledby": "cert-h" },
            h("h3", { id: "cert-h" }, t("privacy.certificate")),
            h("pre", { class: "certificate" }, JSON.stringify(r.certificate, null, 2)),
            h(
              "button",
              {
                type: "button",
                onclick: () =>
                  download(`rapport-erasure-${r.id}.json`, JSON.stringify(r.certificate, null, 2), "application/json"),
              },
              t("privacy.save_certificate"),
            ),
          )
        : null,
    );
    return done || r.status === "expired";
  };
  for (;;) {
    let finished;
    try {
      finished = draw(await api.request(path, { signal: ctx.signal }));
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(body, h("p", { class: "form-error", role: "alert" }, error.message));
      return;
    }
    if (finished || ctx.signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (ctx.signal.aborted) return;
  }
}

/** The audit log: every decision on personal data, filtered by person, purpose and decision; paged. */
async function audit(body, ctx) {
  const q = ctx.query;
  const profile = h("input", { type: "text", name: "profile_id", value: q.get("profile_id") || "" });
  const purpose = select("purpose", PURPOSES.map((p) => [p, t(`privacy.purpose.${p}`)]), q.get("purpose"), t("privacy.any"));
  const decision = select("decision", ["allowed", "refused"].map((d) => [d, t(`privacy.${d}`)]), q.get("decision"), t("privacy.any"));
  const filters = h(
    "form",
    {
      class: "card row",
      onsubmit: (event) => {
        event.preventDefault();
        const params = new URLSearchParams();
        if (profile.value.trim()) params.set("profile_id", profile.value.trim());
        if (purpose.value) params.set("purpose", purpose.value);
        if (decision.value) params.set("decision", decision.value);
        ctx.navigate(`privacy/audit?${params}`);
      },
    },
    field(t("privacy.profile_id"), profile),
    field(t("privacy.purpose"), purpose),
    field(t("privacy.decision"), decision),
    h("button", { type: "submit", class: "primary" }, t("privacy.filter")),
  );
  const rows = h("tbody");
  const params = new URLSearchParams({ limit: "50" });
  for (const key of ["profile_id", "purpose", "decision"]) if (q.get(key)) params.set(key, q.get(key));
  const { more, next } = pager(async (cursor) => {
    const page = await api.request(`/v1/privacy/audit?${params}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
      signal: ctx.signal,
    });
    for (const a of page.items) {
      rows.append(
        h(
          "tr",
          {},
          h("td", {}, formatDate(a.created_at)),
          h("td", {}, a.actor_id ? `${a.actor_kind}: ${a.actor_id}` : a.actor_kind),
          h("td", {}, a.profile_id ? h("a", { href: `#/privacy/person/${encodeURIComponent(a.profile_id)}` }, a.profile_id) : "—"),
          h("td", {}, a.purpose),
          h("td", {}, h("span", { class: `badge ${a.decision === "allowed" ? "met" : "breached"}` }, a.decision), " ", a.reason),
          h("td", {}, [a.method, a.path].filter(Boolean).join(" ") || a.recorded_by),
        ),
      );
    }
    if (!rows.children.length) rows.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("shell.empty"))));
    return page.next_cursor;
  });
  replace(
    body,
    filters,
    h(
      "table",
      {},
      h("caption", { class: "muted" }, t("privacy.audit")),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["privacy.when", "privacy.actor", "privacy.person_h", "privacy.purpose", "privacy.decision", "privacy.operation"].map((k) =>
            h("th", { scope: "col" }, t(k)),
          ),
        ),
      ),
      rows,
    ),
    more,
  );
  await next();
}
