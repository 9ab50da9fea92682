// Sign in with e-mail and password; the session's refresh token becomes an HttpOnly cookie.

import * as api from "../api.js";
import { field, h, replace, setFieldError } from "../dom.js";
import { t } from "../i18n.js";

export async function render(main, ctx) {
  document.title = `${t("login.title")} · Rapport`;
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const tenant = h("input", { type: "text", name: "tenant", autocomplete: "organization" });
  const tenantField = field(t("login.tenant"), tenant, t("login.tenant_hint"));
  tenantField.hidden = true;
  const message = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, t("login.submit"));
  const form = h(
    "form",
    {
      class: "card login",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        message.textContent = "";
        setFieldError(email, email.value ? null : t("login.email_required"));
        setFieldError(password, password.value ? null : t("login.password_required"));
        if (!email.value || !password.value) return;
        submit.disabled = true;
        try {
          await api.login(email.value.trim(), password.value, tenant.value.trim() || null);
          password.value = "";
          await ctx.signedIn();
        } catch (error) {
          if (error.status === 409) {
            // One e-mail and password open accounts in several tenants: ask which.
            tenantField.hidden = false;
            tenant.focus();
            message.textContent = t("login.which_tenant");
          } else if (error.status === 429) {
            message.textContent = t("login.throttled");
          } else if (error.status === 401 || error.status === 422) {
            message.textContent = t("login.wrong");
          } else {
            message.textContent = error.message;
          }
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", {}, h("img", { src: "/console/img/rapport.svg", alt: "", class: "logo" }), t("login.title")),
    field(t("login.email"), email),
    field(t("login.password"), password),
    tenantField,
    message,
    submit,
  );
  replace(main, form);
  email.focus();
}
