// The agent's inbox: conversations with the API's filters, live from the conversation stream, and the
// one opened (`#/inbox/<id>`) beside the list with its customer. Keyboard: j / k next / previous, r reply,
// e resolve, ? the list of shortcuts (never while typing in a field).

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { formatRelative, t } from "../i18n.js";
import { ConversationPane, customerName } from "../inbox/conversation.js";
import { renderCustomer } from "../inbox/customer.js";
import { currentTarget, runTimers, timer } from "../inbox/sla.js";

const PAGE = 25;
const ACTIVE = ["open", "pending", "snoozed"];
const STATUSES = ["active", "open", "pending", "snoozed", "resolved", "closed", "all"];
const PRIORITIES = ["urgent", "high", "normal", "low"];
const PLATFORMS = ["facebook", "instagram", "messenger", "whatsapp", "x", "mastodon", "bluesky", "rss", "reviews"];
const LANGUAGES = ["ar", "de", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "nl", "pl", "pt", "ru", "sv", "tr", "zh"];
const FILTERS = ["view", "status", "priority", "sla", "team", "language", "platform"];
const SHORTCUTS = [
  ["j", "inbox.keys.next"],
  ["k", "inbox.keys.previous"],
  ["r", "inbox.keys.reply"],
  ["e", "inbox.keys.resolve"],
  ["?", "inbox.keys.help"],
];

/** The filters of the URL's query, with their defaults. */
function filtersOf(query) {
  const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name) || ""]));
  if (!STATUSES.includes(filters.status)) filters.status = "active";
  return filters;
}

/** The list's API query for the filters. */
export function listQuery(filters, user) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  const statuses = filters.status === "active" ? ACTIVE : filters.status === "all" ? [] : [filters.status];
  for (const status of statuses) params.append("status", status);
  if (filters.view === "mine") params.set("assignee_id", user.id);
  if (filters.view === "unassigned") params.set("queued", "true");
  if (filters.priority) params.set("priority", filters.priority);
  if (filters.sla) params.set("sla", filters.sla);
  if (filters.team) params.set("team_id", filters.team);
  if (filters.language) params.set("language", filters.language);
  if (filters.platform) params.set("platform", filters.platform);
  return params;
}

/** Whether a conversation (fresh from the API) belongs in the list the filters ask for. */
function matches(conversation, filters, user) {
  const statuses = filters.status === "active" ? ACTIVE : filters.status === "all" ? null : [filters.status];
  if (statuses && !statuses.includes(conversation.status)) return false;
  if (filters.view === "mine" && conversation.assignee_id !== user.id) return false;
  if (filters.view === "unassigned" && (conversation.assignee_id || !ACTIVE.includes(conversation.status))) return false;
  if (filters.priority && conversation.priority !== filters.priority) return false;
  if (filters.team && conversation.team_id !== filters.team) return false;
  if (filters.language && conversation.language !== filters.language) return false;
  if (filters.platform && conversation.platform !== filters.platform) return false;
  if (filters.sla) {
    const states = [conversation.sla?.first_response?.state, conversation.sla?.resolution?.state];
    if (!states.includes(filters.sla)) return false;
  }
  return true;
}

function select(name, label, options, value) {
  const id = `filter-${name}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h(
      "select",
      { id, name },
      options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)),
    ),
  );
}

export async function render(main, ctx) {
  const { user, signal } = ctx;
  const filters = filtersOf(ctx.query);
  const state = { items: [], cursor: null, selected: ctx.params[0] || null, pane: null };
  const [agentList, canned, teams] = await Promise.all([
    api.all("/v1/agents", { signal, max: 500 }).catch(() => []),
    api.all("/v1/canned-responses", { signal, max: 500 }).catch(() => []),
    api.all("/v1/teams", { signal, max: 200 }).catch(() => []),
  ]);
  const agents = new Map(agentList.map((agent) => [agent.id, agent]));

  const list = h("ol", { class: "conversations", id: "conversation-list", "aria-labelledby": "list-title" });
  const more = h("button", { type: "button", hidden: true, onclick: () => loadPage() }, t("shell.more"));
  const live = h("p", { class: "live muted", role: "status" }, t("inbox.connecting"));
  const detail = h("section", { class: "conversation", "aria-labelledby": "conversation-title" });
  const customer = h("aside", { class: "customer", "aria-labelledby": "customer-title" });
  const help = shortcutsDialog();

  // --- the list ---------------------------------------------------------------------------------

  function row(conversation) {
    const [name, target] = currentTarget(conversation);
    const selected = conversation.id === state.selected;
    return h(
      "li",
      { class: `conv status-${conversation.status}${selected ? " selected" : ""}`, dataset: { id: conversation.id } },
      h(
        "a",
        {
          href: `#/inbox/${encodeURIComponent(conversation.id)}${queryString()}`,
          "aria-current": selected ? "true" : false,
          onclick: (event) => {
            event.preventDefault();
            open(conversation.id);
          },
        },
        h("span", { class: "who", dir: "auto" }, customerName(conversation)),
        h("span", { class: "excerpt", dir: "auto" }, conversation.last_message_excerpt || ""),
      ),
      h(
        "p",
        { class: "row meta" },
        h("span", { class: `badge status-${conversation.status}` }, t(`inbox.status.${conversation.status}`)),
        h("span", { class: `badge ${conversation.priority}` }, t(`inbox.priority.${conversation.priority}`)),
        conversation.platform ? h("span", { class: "badge" }, conversation.platform) : null,
        conversation.status === "resolved" || conversation.status === "closed" ? null : timer(conversation, name, target),
        h("time", { class: "muted", datetime: conversation.last_message_at || conversation.opened_at }, formatRelative(conversation.last_message_at || conversation.opened_at)),
      ),
    );
  }

  function paintList() {
    if (!state.items.length) {
      replace(list, h("li", { class: "muted empty" }, t("inbox.empty")));
    } else {
      replace(list, state.items.map(row));
    }
    more.hidden = !state.cursor;
  }

  function rowOf(id) {
    return list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  }

  /** Put a fresh conversation in the list: in place if there, at the top if new and wanted. */
  function upsert(conversation, { fresh = false } = {}) {
    const at = state.items.findIndex((item) => item.id === conversation.id);
    const wanted = matches(conversation, filters, user) || conversation.id === state.selected;
    if (at >= 0 && !wanted) {
      state.items.splice(at, 1);
      rowOf(conversation.id)?.remove();
      if (!state.items.length) paintList();
      return;
    }
    if (!wanted) return;
    const el = row(conversation);
    if (at >= 0) {
      state.items[at] = conversation;
      repaintRow(conversation.id, el);
      return;
    }
    state.items.unshift(conversation);
    if (state.items.length === 1) replace(list);
    if (fresh) el.classList.add("fresh");
    list.prepend(el);
    live.textContent = t("inbox.new_conversation", { name: customerName(conversation) });
  }

  /** Swap a row for its new rendering, keeping the keyboard focus on it if it had it. */
  function repaintRow(id, el) {
    const old = rowOf(id);
    if (!old) return;
    const focused = old.contains(document.activeElement);
    old.replaceWith(el);
    if (focused) el.querySelector("a")?.focus();
  }

  function remove(id) {
    state.items = state.items.filter((item) => item.id !== id);
    rowOf(id)?.remove();
  }

  // Each change of the filters starts a new list: an answer to an older one arrives too late to count.
  let listing = 0;

  async function loadPage() {
    const params = listQuery(filters, user);
    if (state.cursor) params.set("cursor", state.cursor);
    const mine = listing;
    more.disabled = true;
    try {
      const page = await api.request(`/v1/conversations?${params}`, { signal });
      if (mine !== listing) return;
      const known = new Set(state.items.map((item) => item.id));
      state.items.push(...page.items.filter((item) => !known.has(item.id)));
      state.cursor = page.next_cursor;
      paintList();
    } finally {
      more.disabled = false;
    }
  }

  // --- filters ------------------------------------------------------------------------------------

  function queryString() {
    const params = new URLSearchParams();
    for (const name of FILTERS) if (filters[name] && !(name === "status" && filters.status === "active")) params.set(name, filters[name]);
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  function syncUrl(push = false) {
    const path = `#/inbox${state.selected ? `/${encodeURIComponent(state.selected)}` : ""}${queryString()}`;
    if (location.hash !== path) history[push ? "pushState" : "replaceState"](null, "", path);
  }

  const any = t("inbox.filter.any");
  const form = h(
    "form",
    {
      class: "filters row",
      role: "search",
      "aria-label": t("inbox.filters"),
      onchange: async (event) => {
        filters[event.target.name] = event.target.value;
        listing += 1;
        state.items = [];
        state.cursor = null;
        syncUrl();
        replace(list, h("li", { class: "loading" }, t("shell.loading")));
        await loadPage().catch(failed);
      },
      onsubmit: (event) => event.preventDefault(),
    },
    select("view", t("inbox.filter.view"), [["", t("inbox.view.all")], ["mine", t("inbox.view.mine")], ["unassigned", t("inbox.view.unassigned")]], filters.view),
    select("status", t("inbox.filter.status"), STATUSES.map((s) => [s, t(`inbox.status_filter.${s}`)]), filters.status),
    select("priority", t("inbox.filter.priority"), [["", any], ...PRIORITIES.map((p) => [p, t(`inbox.priority.${p}`)])], filters.priority),
    select("sla", t("inbox.filter.sla"), [["", any], ["warning", t("inbox.sla_filter.warning")], ["breached", t("inbox.sla_filter.breached")]], filters.sla),
    select("team", t("inbox.filter.team"), [["", any], ...teams.map((team) => [team.id, team.name])], filters.team),
    select("language", t("inbox.filter.language"), [["", any], ...languageOptions(filters.language)], filters.language),
    select("platform", t("inbox.filter.platform"), [["", any], ...PLATFORMS.map((p) => [p, p])], filters.platform),
  );

  // --- the open conversation ------------------------------------------------------------------------

  const others = async (profileId) =>
    (await api.request(`/v1/conversations?profile_id=${encodeURIComponent(profileId)}&status=open&status=pending&status=snoozed&limit=50`, { signal })).items;

  async function open(id, { push = true, focus = true } = {}) {
    const previous = state.selected;
    state.selected = id;
    if (previous) {
      const old = state.items.find((item) => item.id === previous);
      if (old) repaintRow(previous, row(old));
    }
    const current = state.items.find((item) => item.id === id);
    if (current) repaintRow(id, row(current));
    if (focus) rowOf(id)?.querySelector("a")?.focus();
    syncUrl(push);
    const pane = new ConversationPane(detail, id, {
      user,
      agents,
      canned,
      signal,
      others,
      changed: (fresh) => upsert(fresh),
      removed: remove,
    });
    state.pane = pane;
    detail.hidden = false;
    customer.hidden = false;
    try {
      const loaded = await pane.load();
      if (state.pane !== pane) return;
      upsert(loaded);
      await renderCustomer(customer, loaded, signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(detail, h("div", { class: "problem", role: "alert" }, h("h2", { id: "conversation-title" }, t("inbox.not_found")), h("p", {}, error.message)));
      replace(customer);
      customer.hidden = true;
    }
  }

  function step(delta) {
    if (!state.items.length) return;
    const at = state.items.findIndex((item) => item.id === state.selected);
    const next = at < 0 ? 0 : Math.min(state.items.length - 1, Math.max(0, at + delta));
    if (state.items[next].id !== state.selected) open(state.items[next].id);
  }

  // --- live ---------------------------------------------------------------------------------------

  const pending = new Set();
  let flush = null;

  async function refreshConversations() {
    flush = null;
    const ids = [...pending];
    pending.clear();
    for (const id of ids) {
      try {
        if (state.pane && state.pane.id === id) {
          const fresh = await state.pane.load();
          upsert(fresh, { fresh: true });
        } else {
          const fresh = await api.request(`/v1/conversations/${encodeURIComponent(id)}`, { signal });
          upsert(fresh, { fresh: true });
        }
      } catch (error) {
        if (error.name === "AbortError") return;
        if (error.status === 404) remove(id);
      }
    }
  }

  function onEvent(event) {
    const data = event.data?.data || {};
    for (const id of [data.conversation_id, data.merged_id]) if (id) pending.add(id);
    if (pending.size && !flush) flush = setTimeout(refreshConversations, 100);
  }

  function follow() {
    api
      .stream("/v1/conversations/stream", onEvent, {
        signal,
        onOpen: () => {
          live.textContent = t("inbox.live");
          live.dataset.live = "1";
        },
      })
      .catch((error) => {
        live.dataset.live = "";
        live.textContent = t("inbox.offline", { reason: error.message });
      });
  }

  // --- keyboard -------------------------------------------------------------------------------------

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (help.open && event.key !== "?") return;
    const moves = {
      j: () => step(1),
      k: () => step(-1),
      r: () => state.pane?.focusReply(),
      e: () => state.pane?.toggleResolved(),
      "?": () => (help.open ? help.close() : help.showModal()),
    };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    move();
  }

  document.addEventListener("keydown", onKey);
  signal.addEventListener("abort", () => {
    document.removeEventListener("keydown", onKey);
    clearTimeout(flush);
    help.remove();
  });

  function failed(error) {
    if (error.name === "AbortError") return;
    replace(list, h("li", { class: "problem", role: "alert" }, error.message));
  }

  // --- the page -------------------------------------------------------------------------------------

  detail.hidden = true;
  customer.hidden = true;
  replace(
    main,
    h(
      "div",
      { class: "inbox-head row" },
      h("h1", {}, t("nav.inbox")),
      live,
      h("button", { type: "button", class: "link", "aria-keyshortcuts": "?", onclick: () => help.showModal() }, t("inbox.shortcuts")),
    ),
    form,
    h(
      "div",
      { class: "inbox" },
      h("section", { class: "list", "aria-labelledby": "list-title" }, h("h2", { id: "list-title" }, t("inbox.conversations")), list, more),
      detail,
      customer,
    ),
  );
  document.body.append(help);
  runTimers(main, signal);
  follow();
  await loadPage().catch(failed);
  if (state.selected) await open(state.selected, { push: false, focus: false });
}

function languageOptions(current) {
  const codes = new Set(LANGUAGES);
  if (current) codes.add(current);
  const names = new Intl.DisplayNames([document.documentElement.lang || "en"], { type: "language" });
  return [...codes].sort().map((code) => [code, `${names.of(code) || code} (${code})`]);
}

function shortcutsDialog() {
  const close = h("button", { type: "button", onclick: () => dialog.close() }, t("shell.close"));
  const dialog = h(
    "dialog",
    { class: "shortcuts", "aria-labelledby": "shortcuts-title" },
    h("h2", { id: "shortcuts-title" }, t("inbox.shortcuts")),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("inbox.keys.key")), h("th", { scope: "col" }, t("inbox.keys.does")))),
      h("tbody", {}, SHORTCUTS.map(([key, text]) => h("tr", {}, h("td", {}, h("kbd", {}, key)), h("td", {}, t(text))))),
    ),
    h("p", { class: "muted" }, t("inbox.keys.note")),
    close,
  );
  return dialog;
}
