// One conversation beside the list: its messages and internal notes, the reply (free text or a canned
// response in the conversation's language) with its delivery state, and the moves: resolve, snooze,
// assign, label, merge. The forms are built once per opened conversation and kept while the data under
// them is repainted (a live update never wipes what the agent is typing).

import * as api from "../api.js";
import { field, h, replace, setFieldError, toast } from "../dom.js";
import { formatDate, t } from "../i18n.js";
import { timer } from "./sla.js";

const SNOOZES = [1, 4, 24, 72]; // hours
const AUTOMATIC = new Set(["first_name", "customer_name", "customer_handle", "agent_name"]);
const LABEL = /^[a-z0-9][a-z0-9.:-]{0,39}$/;

export function customerName(conversation) {
  return conversation.customer_display_name || conversation.customer_handle || t("inbox.customer_unknown");
}

/** The canned response's text for a language: its variant, else the default one. */
export function variantFor(canned, language) {
  const base = (language || "").split("-")[0];
  return canned.variants[language] ?? canned.variants[base] ?? canned.variants[canned.default_language];
}

function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, t(`inbox.status.${status}`));
}

function message(item) {
  const outbound = item.direction === "outbound";
  return h(
    "li",
    { class: `message ${item.direction}`, dataset: { id: item.id } },
    h(
      "p",
      { class: "meta" },
      h("span", {}, outbound ? t(`inbox.origin.${item.origin || "agent"}`) : t("inbox.from_customer")),
      " · ",
      h("time", { datetime: item.posted_at }, formatDate(item.posted_at)),
      item.platform ? [" · ", item.platform] : null,
      item.status
        ? [" ", h("span", { class: `badge delivery ${item.status}`, dataset: { delivery: item.status } }, t(`inbox.delivery.${item.status}`))]
        : null,
    ),
    h("p", { class: "text", dir: "auto" }, item.redacted ? t("inbox.redacted") : item.text),
    item.status === "failed" ? h("p", { class: "field-error" }, item.error || item.error_code || "") : null,
  );
}

function note(item, agents, user) {
  const author = item.author_id === user.id ? t("inbox.you") : agents.get(item.author_id)?.display_name || t("inbox.someone");
  return h(
    "li",
    { class: "note" },
    h("p", { class: "meta" }, author, " · ", h("time", { datetime: item.created_at }, formatDate(item.created_at))),
    h("p", { class: "text", dir: "auto" }, item.body),
  );
}

/**
 * The pane of one conversation. `env` = {user, agents (Map id → agent), canned (list), signal,
 * changed(detail) (the list repaints its row), others(profileId) (the customer's other conversations)}.
 */
export class ConversationPane {
  constructor(box, id, env) {
    this.box = box;
    this.id = id;
    this.env = env;
    this.detail = null;
    this.path = `/v1/conversations/${encodeURIComponent(id)}`;
    this.header = h("div", { class: "conv-header" });
    this.thread = h("ol", { class: "messages", "aria-label": t("inbox.messages") });
    this.notes = h("ol", { class: "notes", "aria-label": t("inbox.notes") });
    this.status = h("p", { class: "sr-status visually-hidden", role: "status" });
    this.actions = this.buildActions();
    this.reply = this.buildReply();
    this.noteForm = this.buildNote();
    replace(
      box,
      this.header,
      this.actions,
      h("h3", { id: "messages-title" }, t("inbox.messages")),
      this.thread,
      this.reply,
      h("h3", { id: "notes-title" }, t("inbox.notes")),
      this.notes,
      this.noteForm,
      this.status,
    );
  }

  async load() {
    const detail = await api.request(this.path, { signal: this.env.signal });
    this.update(detail);
    return detail;
  }

  /** Repaint from a fresh detail (after a move, or a live change). */
  update(detail) {
    const before = this.detail;
    this.detail = detail;
    const timers = [
      timer(detail, "first_response", detail.sla?.first_response),
      timer(detail, "resolution", detail.sla?.resolution),
    ];
    const assignee = detail.assignee_id ? this.env.agents.get(detail.assignee_id)?.display_name || t("inbox.someone") : t("inbox.nobody");
    replace(
      this.header,
      h("h2", { id: "conversation-title", dir: "auto" }, customerName(detail)),
      h(
        "p",
        { class: "row" },
        statusBadge(detail.status),
        h("span", { class: `badge ${detail.priority}` }, t(`inbox.priority.${detail.priority}`)),
        detail.platform ? h("span", { class: "badge" }, detail.platform) : null,
        detail.language ? h("span", { class: "badge", lang: detail.language }, detail.language) : null,
        timers,
      ),
      h(
        "p",
        { class: "muted" },
        t("inbox.assigned_to", { name: assignee }),
        detail.snoozed_until && detail.status === "snoozed" ? [" · ", t("inbox.snoozed_until", { time: formatDate(detail.snoozed_until) })] : null,
      ),
      h(
        "ul",
        { class: "labels", "aria-label": t("inbox.labels") },
        detail.labels.map((label) =>
          h(
            "li",
            {},
            h("span", { class: "badge" }, label),
            h(
              "button",
              { type: "button", class: "link", "aria-label": t("inbox.remove_label", { label }), onclick: () => this.patch({ labels: { remove: [label] } }) },
              "×",
            ),
          ),
        ),
      ),
    );
    replace(this.thread, detail.messages.map(message));
    replace(this.notes, detail.notes.length ? detail.notes.map((item) => note(item, this.env.agents, this.env.user)) : h("li", { class: "muted" }, t("inbox.no_notes")));
    const done = detail.status === "resolved" || detail.status === "closed";
    this.resolveButton.textContent = done ? t("inbox.reopen") : t("inbox.resolve");
    this.resolveButton.dataset.action = done ? "reopen" : "resolve";
    this.fillMerge();
    if (before && before.status !== detail.status) this.status.textContent = t("inbox.now_status", { status: t(`inbox.status.${detail.status}`) });
  }

  async act(work, done) {
    try {
      const result = await work();
      if (done) toast(done);
      return result;
    } catch (error) {
      if (error.name === "AbortError") return null;
      toast(api.problemText(error), "error");
      return null;
    }
  }

  async patch(body, done) {
    const updated = await this.act(() => api.request(this.path, { method: "PATCH", body, signal: this.env.signal, idempotencyKey: api.newKey() }), done);
    if (updated) await this.refresh();
  }

  async refresh() {
    try {
      const detail = await this.load();
      this.env.changed(detail);
    } catch (error) {
      if (error.name !== "AbortError") toast(api.problemText(error), "error");
    }
  }

  /** Resolve (or reopen a resolved one): the `e` shortcut. */
  async toggleResolved() {
    if (!this.detail) return;
    const reopen = this.resolveButton.dataset.action === "reopen";
    await this.patch({ status: reopen ? "open" : "resolved" }, t(reopen ? "inbox.reopened" : "inbox.resolved"));
  }

  focusReply() {
    (this.cannedVars.querySelector("input") || this.replyText).focus();
  }

  buildActions() {
    this.resolveButton = h("button", { type: "button", class: "primary", "aria-keyshortcuts": "e", onclick: () => this.toggleResolved() }, t("inbox.resolve"));

    const snooze = h("select", { id: `snooze-${this.id}` }, SNOOZES.map((hours) => h("option", { value: hours }, t("inbox.snooze_hours", { hours }))));
    const snoozeForm = h(
      "form",
      {
        class: "row",
        onsubmit: (event) => {
          event.preventDefault();
          const until = new Date(Date.now() + Number(snooze.value) * 3600 * 1000).toISOString();
          this.patch({ status: "snoozed", snoozed_until: until }, t("inbox.snoozed"));
        },
      },
      h("label", { for: `snooze-${this.id}` }, t("inbox.snooze_for")),
      snooze,
      h("button", { type: "submit" }, t("inbox.snooze")),
    );

    const choices = [...this.env.agents.values()].filter((a) => a.active);
    const agent = h(
      "select",
      { id: `assign-${this.id}`, disabled: choices.length === 0 },
      choices.length
        ? choices.map((a) => h("option", { value: a.id }, `${a.display_name || a.id} · ${t(`inbox.presence.${a.presence}`)}`))
        : h("option", { value: "" }, t("inbox.no_agents")),
    );
    const assignForm = h(
      "form",
      {
        class: "row",
        onsubmit: async (event) => {
          event.preventDefault();
          if (!agent.value) return;
          const moved = await this.act(
            () => api.request(`${this.path}/assign`, { method: "POST", body: { agent_id: agent.value }, signal: this.env.signal, idempotencyKey: api.newKey() }),
            t("inbox.assigned"),
          );
          if (moved) {
            this.update(moved);
            this.env.changed(moved);
          }
        },
      },
      h("label", { for: agent.id }, t("inbox.assign_to")),
      agent,
      h("button", { type: "submit", disabled: choices.length === 0 }, t("inbox.assign")),
    );

    const label = h("input", { type: "text", id: `label-${this.id}`, maxlength: 40, autocomplete: "off" });
    const labelForm = h(
      "form",
      {
        class: "row",
        novalidate: true,
        onsubmit: (event) => {
          event.preventDefault();
          const value = label.value.trim().toLowerCase();
          if (!LABEL.test(value)) {
            setFieldError(label, t("inbox.label_invalid"));
            return;
          }
          setFieldError(label, null);
          label.value = "";
          this.patch({ labels: { add: [value] } }, t("inbox.labelled", { label: value }));
        },
      },
      field(t("inbox.add_label"), label),
      h("button", { type: "submit" }, t("inbox.label")),
    );

    this.mergeSelect = h("select", { id: `merge-${this.id}` });
    this.mergeButton = h("button", { type: "submit" }, t("inbox.merge"));
    const mergeForm = h(
      "form",
      {
        class: "row",
        onsubmit: async (event) => {
          event.preventDefault();
          const other = this.mergeSelect.value;
          if (!other) return;
          const merged = await this.act(
            () => api.request(`${this.path}/merge`, { method: "POST", body: { conversation_id: other }, signal: this.env.signal, idempotencyKey: api.newKey() }),
            t("inbox.merged"),
          );
          if (merged) {
            this.env.removed?.(other);
            await this.refresh();
          }
        },
      },
      h("label", { for: this.mergeSelect.id }, t("inbox.merge_with")),
      this.mergeSelect,
      this.mergeButton,
    );

    return h(
      "section",
      { class: "actions", "aria-label": t("inbox.actions") },
      h("div", { class: "row" }, this.resolveButton),
      snoozeForm,
      assignForm,
      labelForm,
      mergeForm,
    );
  }

  /** The customer's other conversations still in progress, to merge into this one. */
  async fillMerge() {
    const detail = this.detail;
    let others = [];
    try {
      others = (await this.env.others(detail.profile_id)).filter((c) => c.id !== detail.id);
    } catch (error) {
      if (error.name === "AbortError") return;
    }
    replace(
      this.mergeSelect,
      others.length
        ? others.map((c) => h("option", { value: c.id }, `${formatDate(c.opened_at)} · ${c.last_message_excerpt || c.id}`))
        : h("option", { value: "" }, t("inbox.merge_none")),
    );
    this.mergeSelect.disabled = others.length === 0;
    this.mergeButton.disabled = others.length === 0;
  }

  buildReply() {
    this.replyText = h("textarea", { id: `reply-${this.id}`, name: "reply", "aria-keyshortcuts": "r" });
    this.cannedPreview = h("p", { class: "canned-preview", hidden: true });
    this.cannedVars = h("div", { class: "canned-vars" });
    const canned = h(
      "select",
      { id: `canned-${this.id}` },
      h("option", { value: "" }, t("inbox.canned_none")),
      this.env.canned.map((c) => h("option", { value: c.id }, c.name)),
    );
    this.cannedSelect = canned;
    const textField = field(t("inbox.reply"), this.replyText);
    const showCanned = () => {
      const chosen = this.env.canned.find((c) => c.id === canned.value);
      textField.hidden = Boolean(chosen);
      this.cannedPreview.hidden = !chosen;
      replace(this.cannedVars);
      if (!chosen) return;
      const text = variantFor(chosen, this.detail?.language);
      replace(this.cannedPreview, h("span", { class: "muted" }, t("inbox.canned_preview"), " "), h("span", { dir: "auto", lang: this.detail?.language || null }, text));
      for (const name of chosen.variables.filter((v) => !AUTOMATIC.has(v))) {
        this.cannedVars.append(field(t("inbox.variable", { name }), h("input", { type: "text", name, maxlength: 500, required: true })));
      }
    };
    canned.addEventListener("change", showCanned);
    const error = h("p", { class: "form-error", role: "alert" });
    const send = h("button", { type: "submit", class: "primary" }, t("inbox.send"));
    return h(
      "form",
      {
        class: "reply card",
        "aria-labelledby": `reply-title-${this.id}`,
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          error.textContent = "";
          const chosen = this.env.canned.find((c) => c.id === canned.value);
          let body;
          if (chosen) {
            const variables = {};
            for (const input of this.cannedVars.querySelectorAll("input")) {
              if (!input.value.trim()) {
                setFieldError(input, t("inbox.variable_required"));
                input.focus();
                return;
              }
              setFieldError(input, null);
              variables[input.name] = input.value.trim();
            }
            body = { template_id: chosen.id, variables };
          } else {
            const text = this.replyText.value.trim();
            if (!text) {
              setFieldError(this.replyText, t("inbox.reply_required"));
              this.replyText.focus();
              return;
            }
            setFieldError(this.replyText, null);
            body = { text };
          }
          send.disabled = true;
          try {
            await api.request(`${this.path}/messages`, { method: "POST", body, signal: this.env.signal, idempotencyKey: api.newKey() });
            this.replyText.value = "";
            canned.value = "";
            showCanned();
            toast(t("inbox.reply_queued"));
            await this.refresh();
          } catch (failure) {
            if (failure.name !== "AbortError") error.textContent = api.problemText(failure);
          } finally {
            send.disabled = false;
          }
        },
      },
      h("h3", { id: `reply-title-${this.id}` }, t("inbox.reply_title")),
      field(t("inbox.canned"), canned, this.env.canned.length ? null : t("inbox.canned_empty")),
      this.cannedPreview,
      this.cannedVars,
      textField,
      error,
      h("div", { class: "row" }, send),
    );
  }

  buildNote() {
    const body = h("textarea", { id: `note-${this.id}`, name: "note" });
    return h(
      "form",
      {
        class: "note-form",
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          const text = body.value.trim();
          if (!text) {
            setFieldError(body, t("inbox.note_required"));
            return;
          }
          setFieldError(body, null);
          const added = await this.act(
            () => api.request(`${this.path}/notes`, { method: "POST", body: { body: text }, signal: this.env.signal, idempotencyKey: api.newKey() }),
            t("inbox.note_added"),
          );
          if (added) {
            body.value = "";
            await this.refresh();
          }
        },
      },
      field(t("inbox.add_note"), body, t("inbox.note_hint")),
      h("button", { type: "submit" }, t("inbox.add_note_button")),
    );
  }
}
