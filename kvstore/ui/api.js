// The service's HTTP API as the page uses it. Every URL is relative to this module's own
// (ui/api.js -> ../v1/), so the page reaches /dev/v1/ when it is served at /dev/ui.

import { member } from "./json.js";

const ROOT = new URL("../v1/", import.meta.url);
const TOKEN = "kvstore.token";
// A write that no server carries out, whatever the token: If-None-Match: * asks to delete only
// a key that does not exist (the service refuses the combination with 400). A read-only token
// is refused before that, with 403; a token that is not valid gets 401.
const PROBE_KEY = "kvstore-ui-write-probe";

/** The service answered 401: the page needs a (better) token. */
export class Unauthorized extends Error {}

/** No answer at all (network down, the service stopped). */
export class Unreachable extends Error {}

/** The token, kept for this tab only: sessionStorage, never a cookie or localStorage. */
export const token = {
  get: () => sessionStorage.getItem(TOKEN),
  set: (value) => sessionStorage.setItem(TOKEN, value),
  clear: () => sessionStorage.removeItem(TOKEN),
};

/** A key as a path under /v1/key/: each segment percent-encoded, its slashes kept. */
export function keyPath(key) {
  return "key/" + key.split("/").map(encodeURIComponent).join("/");
}

/** One answer: its status, headers and body text; JSON parsed on demand. */
class Reply {
  constructor(response, text) {
    this.status = response.status;
    this.headers = response.headers;
    this.text = text;
  }

  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  json() {
    return JSON.parse(this.text);
  }

  /**
   * The item of a 200/201 answer: its metadata, its value as the JSON text sent, and
   * `expiresAt`, when it expires by this computer's clock (from the answer's Date, so that a
   * clock set wrong here does not shift an expiry that a Save keeps).
   */
  item() {
    const item = { ...this.json(), raw: member(this.text, "value"), expiresAt: null };
    if (item.expires_at !== null) {
      const served = Date.parse(this.headers.get("Date") ?? "") || Date.now();
      item.expiresAt = Date.now() + (Date.parse(item.expires_at) - served);
    }
    return item;
  }

  /** What a problem+json answer says, in one line. */
  get problem() {
    try {
      const problem = this.json();
      return problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
    } catch {
      return `HTTP ${this.status}`;
    }
  }
}

async function call(method, path, { query = {}, headers = {}, body } = {}) {
  const url = new URL(path, ROOT);
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const sent = new Headers(headers);
  const bearer = token.get();
  if (bearer) sent.set("Authorization", `Bearer ${bearer}`);
  if (body !== undefined) sent.set("Content-Type", "application/json");
  let response;
  try {
    response = await fetch(url, { method, headers: sent, body, cache: "no-store" });
  } catch (error) {
    throw new Unreachable(`the service cannot be reached (${error.message})`);
  }
  const reply = new Reply(response, await response.text());
  if (reply.status === 401) throw new Unauthorized(reply.problem);
  return reply;
}

// A write body around the value's own text, so that it is sent exactly as typed.
function writeBody(valueText, ttl, key) {
  const members = [];
  if (key !== undefined) members.push(`"key":${JSON.stringify(key)}`);
  members.push(`"value":${valueText.trim()}`);
  if (ttl) members.push(`"ttl":${Number(ttl)}`);
  return `{${members.join(",")}}`;
}

/** One page of the listing: `{items, next_cursor}` (items with their values). */
export async function list(prefix, limit, cursor) {
  const reply = await call("GET", "key", { query: { prefix, limit, cursor } });
  if (!reply.ok) throw new Error(reply.problem);
  return reply.json();
}

/** The item, or null when there is no such key. */
export async function get(key) {
  const reply = await call("GET", keyPath(key));
  if (reply.status === 404) return null;
  if (!reply.ok) throw new Error(reply.problem);
  return reply.item();
}

/** PUT: only at `version` (If-Match), or only if absent when `version` is null. */
export function put(key, valueText, version, ttl) {
  const condition = version === null ? { "If-None-Match": "*" } : { "If-Match": `"${version}"` };
  return call("PUT", keyPath(key), { headers: condition, body: writeBody(valueText, ttl) });
}

/** POST: create a key that must not exist yet (409 when it does). */
export function create(key, valueText, ttl) {
  return call("POST", "key", { body: writeBody(valueText, ttl, key) });
}

/** DELETE, only at `version`. */
export function remove(key, version) {
  return call("DELETE", keyPath(key), { headers: { "If-Match": `"${version}"` } });
}

/** Whether the token may write: false for a read-only one (403). Throws Unauthorized. */
export async function mayWrite() {
  const reply = await call("DELETE", keyPath(PROBE_KEY), { headers: { "If-None-Match": "*" } });
  return reply.status !== 403;
}

/** Whether the service deletes a whole prefix (`DELETE /v1/key?prefix=`): its Allow header. */
export async function deletesPrefixes() {
  const reply = await call("OPTIONS", "key");
  const allow = (reply.headers.get("Allow") || "").toUpperCase().split(/\s*,\s*/);
  return allow.includes("DELETE");
}

/** Delete every key under `prefix`, following continuations; the number deleted. */
export async function removePrefix(prefix) {
  let deleted = 0;
  let cursor = null;
  do {
    const reply = await call("DELETE", "key", { query: { prefix, cursor } });
    if (!reply.ok) return { reply, deleted };
    const body = reply.json();
    deleted += body.deleted;
    cursor = body.next_cursor ?? null;
  } while (cursor !== null);
  return { reply: null, deleted };
}
