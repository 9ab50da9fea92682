// The console's shell: session start, the header and its navigation, and the hash router.
//
// A page is a module in ./pages/ exporting `render(view, ctx)`: `view` is the element it owns inside
// <main>, ctx = {params, query, user, signal, navigate}. `params` are the path segments after the page's
// name (`#/inbox/c_1` → ["c_1"]), `query` the URLSearchParams after `?`. `signal` aborts when the user leaves the page: a page closes its
// streams and timers on it.

import * as api from "./api.js";
import { h, replace, toast } from "./dom.js";
import { LANGUAGES, language, preferredLanguage, setLanguage, t } from "./i18n.js";

// Page name → who may open it (roles) and its module. The first one a role may open is its home.
export const PAGES = {
  inbox: { roles: ["owner", "admin", "agent"], load: () => import("./pages/inbox.js") },
  listening: { roles: ["owner", "admin", "analyst", "agent"], load: () => import("./pages/listening.js") },
  dashboard: { roles: ["owner", "admin", "analyst", "agent"], load: () => import("./pages/dashboard.js") },
  admin: { roles: ["owner", "admin"], load: () => import("./pages/admin.js") },
  privacy: { roles: ["owner", "admin"], load: () => import("./pages/privacy.js") },
};

const main = document.getElementById("main");
const bar = document.getElementById("bar");
let user = null;
let leaving = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: segments[0] || "", params: segments.slice(1), query: new URLSearchParams(search) };
}

export function navigate(path) {
  location.hash = path.startsWith("#") ? path : `#/${path.replace(/^\//, "")}`;
}

function allowed(name) {
  return Boolean(user && PAGES[name] && PAGES[name].roles.includes(user.role));
}

function home() {
  return Object.keys(PAGES).find(allowed) || "dashboard";
}

function renderBar(current) {
  if (!user) {
    bar.hidden = true;
    return;
  }
  bar.hidden = false;
  const links = Object.keys(PAGES)
    .filter(allowed)
    .map((name) =>
      h(
        "li",
        {},
        h("a", { href: `#/${name}`, "aria-current": name === current ? "page" : false }, t(`nav.${name}`)),
      ),
    );
  const picker = h(
    "select",
    {
      id: "language",
      "aria-label": t("shell.language"),
      onchange: async (event) => {
        await setLanguage(event.target.value);
        route();
      },
    },
    Object.entries(LANGUAGES).map(([code, meta]) =>
      h("option", { value: code, selected: code === language() }, meta.name),
    ),
  );
  replace(
    bar,
    h("a", { class: "brand", href: `#/${home()}` }, h("img", { src: "/console/img/rapport.svg", alt: "" }), "Rapport"),
    h("nav", { "aria-label": t("shell.navigation") }, h("ul", {}, links)),
    h(
      "div",
      { class: "who" },
      picker,
      h("span", { class: "user", title: user.email }, user.display_name || user.email, " · ", t(`role.${user.role}`)),
      h("button", { type: "button", class: "link", onclick: signOut }, t("shell.logout")),
    ),
  );
}

async function signOut() {
  await api.logout();
}

async function route() {
  leaving?.abort();
  leaving = new AbortController();
  const { name, params, query } = parseHash();
  if (!user) {
    renderBar(null);
    const page = await import("./pages/login.js");
    await page.render(main, { params, query, user: null, signal: leaving.signal, navigate, signedIn: start });
    return;
  }
  if (!allowed(name)) {
    navigate(home());
    return;
  }
  renderBar(name);
  // Each visit renders into a view of its own: a page still busy after the user left paints into a
  // view no longer in the document, never over the next page.
  const view = h("div", { class: "view" }, h("p", { class: "loading" }, t("shell.loading")));
  replace(main, view);
  document.title = `${t(`nav.${name}`)} · Rapport`;
  const { signal } = leaving;
  try {
    const page = await PAGES[name].load();
    if (signal.aborted) return; // the user moved on while the page's module loaded
    await page.render(view, { params, query, user, signal, navigate });
  } catch (error) {
    if (error.name === "AbortError" || signal.aborted) return;
    replace(view, h("div", { class: "problem", role: "alert" }, h("h1", {}, t("shell.error")), h("p", {}, error.message)));
  }
  main.focus({ preventScroll: true });
}

/** After a login (or a refresh from the cookie): who we are, then the page asked for. */
async function start() {
  user = await api.request("/v1/me");
  if (!parseHash().name || parseHash().name === "login") navigate(home());
  else await route();
}

api.onSessionEnd(() => {
  const had = user !== null;
  user = null;
  if (had) toast(t("shell.signed_out"));
  navigate("login");
  route();
});

async function boot() {
  await setLanguage(preferredLanguage());
  window.addEventListener("hashchange", route);
  if (await api.refresh()) {
    try {
      await start();
      return;
    } catch {
      user = null;
    }
  }
  await route();
}

boot();
