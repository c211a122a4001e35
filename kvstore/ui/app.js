// The page: a folder's keys on the left, one item's editor on the right, the URL's fragment
// saying which (#prefix=sports%2F&key=sports), so that every key and folder is a link and the
// browser's Back goes where a person expects. Text from the service (keys, values, problems)
// only ever lands in textContent or a textarea's value, never in markup.

import * as api from "./api.js";
import { invalid, pretty } from "./json.js";
import { Level, ancestors, folderOf } from "./tree.js";

const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes, never markup. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const state = {
  route: { prefix: "", key: null, create: false },
  level: null, // the folder being shown (tree.js Level)
  item: null, // the item in the editor, or { create: true } for a new key
  conflict: null, // { theirs, action } after a 412
  mayWrite: true,
  deletesPrefixes: false,
  loads: 0, // the latest listing load: an older one finishing late is dropped
};

// -- the URL's fragment ------------------------------------------------------------------

function readRoute() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { prefix: params.get("prefix") ?? "", key: params.get("key"), create: params.has("new") };
}

function href({ prefix = "", key = null, create = false }) {
  const params = new URLSearchParams();
  if (prefix) params.set("prefix", prefix);
  if (key !== null) params.set("key", key);
  if (create) params.set("new", "");
  return "#" + params.toString();
}

// -- messages ----------------------------------------------------------------------------

function say(text) {
  $("alert").textContent = "";
  $("status").textContent = text;
}

function warn(text) {
  $("status").textContent = "";
  $("alert").textContent = text;
}

const NEEDS_TOKEN = "This service needs a token: sign in.";

/** Runs an action of the page; what goes wrong is said on the page, never thrown away. */
async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof api.Unauthorized)) return warn(error.message);
    const refused = api.token.get() !== null;
    askForToken();
    warn(refused ? "The token was refused: sign in again." : NEEDS_TOKEN);
  }
}

// -- access ------------------------------------------------------------------------------

/** The sign-in form, and nothing of the data, until a token is given. */
function askForToken() {
  api.token.clear();
  state.mayWrite = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  $("data").hidden = true;
  $("entries").tBodies[0].replaceChildren();
  $("item").hidden = true;
  state.level = null;
  state.item = null;
  $("token").focus();
}

function showSession() {
  $("signin").hidden = true;
  $("data").hidden = false;
  $("session").hidden = api.token.get() === null;
  $("access").textContent = state.mayWrite ? "Signed in" : "Signed in, read-only";
  applyAccess();
}

/** Shows what the token may do: a read-only one sees no New key, Save or Delete. */
function applyAccess() {
  const write = state.mayWrite;
  const creating = state.item?.create === true;
  $("new").hidden = !write;
  $("delete-folder").hidden = !(write && state.deletesPrefixes && state.level?.folder);
  $("save").hidden = !write;
  $("delete").hidden = !write || creating;
  $("ttl-row").hidden = !write;
  $("value").readOnly = !write;
  $("overwrite").hidden = !write || state.conflict?.action !== "save";
}

/** A write answered 403: this token only reads (the sign-in probe did not tell). */
function refusedWrite(reply) {
  state.mayWrite = false;
  showSession();
  const refused = `Not written (${reply.problem})`;
  warn(`${refused}: this token may only read, so the page now only reads.`);
}

async function start() {
  state.mayWrite = api.token.get() === null || (await api.mayWrite());
  state.deletesPrefixes = await api.deletesPrefixes();
  showSession();
  state.level = null;
  state.item = null;
  await route();
}

// -- the folder --------------------------------------------------------------------------

function when(text) {
  return el("time", { datetime: text }, text.replace("T", " ").replace(/\.\d+Z$/, " UTC"));
}

function renderCrumbs(folder) {
  const crumb = (name, prefix) =>
    el(
      "li",
      {},
      prefix === folder
        ? el("span", { "aria-current": "page" }, name)
        : el("a", { href: href({ prefix }) }, name),
    );
  const crumbs = [crumb("All keys", "")];
  for (const ancestor of ancestors(folder)) {
    crumbs.push(crumb(ancestor.slice(folderOf(ancestor.slice(0, -1)).length), ancestor));
  }
  $("crumbs").firstElementChild.replaceChildren(...crumbs);
}

function renderPage(level, page) {
  const name = (full) => full.slice(level.folder.length);
  const rows = page.folders.map((folder) => {
    const link = el("a", { href: href({ prefix: folder }) }, name(folder));
    return el("tr", { class: "folder" }, el("td", {}, link), el("td"), el("td"), el("td"));
  });
  for (const item of page.keys) {
    const link = el("a", { href: href({ prefix: level.prefix, key: item.key }) }, name(item.key));
    rows.push(
      el(
        "tr",
        { class: "key" },
        el("td", {}, link),
        el("td", {}, String(item.version)),
        el("td", {}, when(item.updated_at)),
        el("td", {}, item.expires_at === null ? "never" : when(item.expires_at)),
      ),
    );
  }
  $("entries").tBodies[0].replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  $("previous").disabled = !level.hasPrevious;
  $("next").disabled = !level.hasNext;
}

/** Reads and shows a page of `level` (move: "load", "next" or "previous"). */
async function showLevel(level, move = "load") {
  const ticket = ++state.loads;
  state.level = level;
  $("prefix").value = level.prefix;
  renderCrumbs(level.folder);
  applyAccess();
  const page = await level[move]();
  if (ticket === state.loads) renderPage(level, page);
}

const refreshLevel = () => (state.level === null ? undefined : showLevel(state.level));

async function deleteFolder() {
  const folder = state.level.folder;
  if (!confirm(`Delete every key under “${folder}”? This cannot be undone.`)) return;
  const { reply, deleted } = await api.removePrefix(folder);
  if (reply !== null && reply.status === 403) return refusedWrite(reply);
  if (reply !== null) return warn(`${reply.problem} (${deleted} deleted before that)`);
  say(`Deleted ${deleted} ${deleted === 1 ? "key" : "keys"} under “${folder}”.`);
  location.hash = href({ prefix: folderOf(folder.slice(0, -1)) });
}

// -- the item ----------------------------------------------------------------------------

function showValueError(text) {
  $("value-error").textContent = text;
  $("value").setAttribute("aria-invalid", text ? "true" : "false");
}

function hideConflict() {
  state.conflict = null;
  $("conflict").hidden = true;
  $("conflict-text").textContent = "";
  $("theirs").textContent = "";
}

function openEditor(title, { create }) {
  $("item").hidden = false;
  $("item-title").textContent = title;
  $("key-row").hidden = !create;
  $("meta").hidden = create;
  $("ttl").value = "";
  showValueError("");
  hideConflict();
  applyAccess();
}

function showItem(item) {
  state.item = item;
  openEditor(item.key, { create: false });
  $("meta-version").textContent = String(item.version);
  $("meta-updated").replaceChildren(when(item.updated_at));
  $("meta-expires").replaceChildren(item.expires_at === null ? "never" : when(item.expires_at));
  $("ttl-help").textContent =
    item.expires_at === null ? "Empty: never expires." : "Empty keeps the current expiry.";
  $("value").value = pretty(item.raw);
}

function showNew() {
  state.item = { create: true };
  openEditor("New key", { create: true });
  $("key").value = state.level?.folder ?? "";
  $("ttl-help").textContent = "Empty: never expires.";
  $("value").value = "";
  $("key").focus();
}

function closeItem() {
  state.item = null;
  hideConflict();
  $("item").hidden = true;
}

async function openItem(key) {
  const item = await api.get(key);
  if (item === null) {
    closeItem();
    warn(`There is no key “${key}”.`);
    return;
  }
  showItem(item);
}

const TTL_RULE = "TTL (seconds) must be a whole number of seconds, or empty.";
const wholeSeconds = (typed) => typed === "" || /^[1-9][0-9]*$/.test(typed);

/** The TTL to send: the one typed, else what is left of `base`'s expiry (if it has one). */
function ttlFor(typed, base) {
  if (typed !== "") return typed;
  if (base === null || base.expires_at === null) return null;
  return String(Math.max(1, Math.ceil((base.expiresAt - Date.now()) / 1000)));
}

async function write(key, text, base) {
  const typed = $("ttl").value.trim();
  if (!wholeSeconds(typed)) return warn(TTL_RULE);
  const ttl = ttlFor(typed, base);
  const reply = await api.put(key, text, base === null ? null : base.version, ttl);
  if (reply.ok) {
    const item = reply.item();
    showItem(item);
    say(`Saved “${key}”: version ${item.version}.`);
    return refreshLevel();
  }
  if (reply.status === 412) return showConflict(key, "save");
  if (reply.status === 403) return refusedWrite(reply);
  return warn(reply.problem);
}

async function create(key, text) {
  const ttl = $("ttl").value.trim();
  if (key === "") return warn("A new key needs a name: fill in Key.");
  if (!wholeSeconds(ttl)) return warn(TTL_RULE);
  const reply = await api.create(key, text, ttl || null);
  if (reply.status === 201) {
    const item = reply.item();
    showItem(item);
    location.hash = href({ prefix: state.route.prefix, key: item.key });
    say(`Created “${key}”.`);
    return refreshLevel();
  }
  if (reply.status === 409) return warn(`A key named “${key}” already exists.`);
  if (reply.status === 403) return refusedWrite(reply);
  return warn(reply.problem);
}

async function save(event) {
  event.preventDefault();
  const text = $("value").value;
  const why = invalid(text);
  if (why !== null) {
    showValueError(`Not valid JSON, not saved: ${why}`);
    $("value").focus();
    return;
  }
  showValueError("");
  if (state.item.create) return create($("key").value, text);
  return write(state.item.key, text, state.item);
}

async function deleteItem() {
  const item = state.item;
  if (!confirm(`Delete the key “${item.key}”? This cannot be undone.`)) return;
  const reply = await api.remove(item.key, item.version);
  if (reply.status === 204 || reply.status === 404) {
    const gone = reply.status === 204 ? "Deleted" : "Someone else already deleted";
    say(`${gone} “${item.key}”.`);
    closeItem();
    location.hash = href({ prefix: state.route.prefix });
    return refreshLevel();
  }
  if (reply.status === 412) return showConflict(item.key, "delete");
  if (reply.status === 403) return refusedWrite(reply);
  return warn(reply.problem);
}

/** Someone else wrote `key` since it was loaded: show their version, offer Reload/Overwrite. */
async function showConflict(key, action) {
  const theirs = await api.get(key);
  state.conflict = { theirs, action };
  $("conflict").hidden = false;
  $("theirs").hidden = theirs === null;
  $("theirs").textContent = theirs === null ? "" : pretty(theirs.raw);
  const kept = action === "save" ? "Your edit is still in the editor." : "It was not deleted.";
  $("conflict-text").textContent =
    theirs === null
      ? `Someone else deleted “${key}” since you loaded it. ${kept}`
      : `Someone else changed “${key}” since you loaded it: it is now at version ` +
        `${theirs.version}. ${kept} Their value:`;
  applyAccess();
}

async function reload() {
  const { theirs } = state.conflict;
  if (theirs === null) {
    closeItem();
    location.hash = href({ prefix: state.route.prefix });
  } else {
    showItem(theirs);
    say(`Loaded version ${theirs.version} of “${theirs.key}”.`);
  }
  return refreshLevel();
}

function overwrite() {
  const { theirs } = state.conflict;
  return write(state.item.key, $("value").value, theirs);
}

// -- routing -----------------------------------------------------------------------------

async function route() {
  const next = readRoute();
  state.route = next;
  const moved = state.level === null || state.level.prefix !== next.prefix;
  const listing = moved ? showLevel(new Level(next.prefix)) : null;
  let opening = null;
  if (next.create) showNew();
  else if (next.key === null) closeItem();
  else if (state.item?.key !== next.key || state.item.create) opening = openItem(next.key);
  await Promise.all([listing, opening]); // both awaited at once: neither fails unheard
}

$("filter").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = href({ prefix: $("prefix").value });
});
$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  api.token.set($("token").value.trim());
  $("token").value = "";
  say("");
  guarded(start);
});
$("signout").addEventListener("click", () => {
  askForToken();
  say("Signed out.");
});
$("previous").addEventListener("click", () => guarded(() => showLevel(state.level, "previous")));
$("next").addEventListener("click", () => guarded(() => showLevel(state.level, "next")));
$("new").addEventListener("click", () => {
  const target = href({ prefix: state.route.prefix, create: true });
  if (location.hash === target) showNew(); // already there: start over
  else location.hash = target;
});
$("delete-folder").addEventListener("click", () => guarded(deleteFolder));
$("editor").addEventListener("submit", (event) => guarded(() => save(event)));
$("value").addEventListener("input", () => {
  const flagged = $("value").getAttribute("aria-invalid") === "true";
  if (flagged && invalid($("value").value) === null) showValueError("");
});
$("delete").addEventListener("click", () => guarded(deleteItem));
$("reload").addEventListener("click", () => guarded(reload));
$("overwrite").addEventListener("click", () => guarded(overwrite));
window.addEventListener("hashchange", () => guarded(route));

guarded(start);
