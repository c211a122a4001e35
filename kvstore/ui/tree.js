// The key tree, one level at a time: the keys under a folder, grouped at the next "/" into
// folders, read a page at a time by the listing's cursors.
//
// Today's listing (GET /v1/key?prefix=&limit=&cursor=) returns whole items, so grouping is
// done here: a page reads listing pages until it holds PAGE_SIZE names (or MAX_READS pages
// were read), skipping the keys of folders it already showed. Only `readPage` knows where
// names come from: once the service lists names grouped by a delimiter
// (GET /v1/key?keys=true&delimiter=/, folders in `prefixes`), `readPage` becomes one call of
// it, and the rest of this module and the page stay as they are.

import { list } from "./api.js";

export const PAGE_SIZE = 100;
const MAX_READS = 10;

/** The folder a prefix is in: "sports/ba" -> "sports/", "sports" -> "". */
export function folderOf(prefix) {
  return prefix.slice(0, prefix.lastIndexOf("/") + 1);
}

/** Every folder from the top down to `folder`: "a/b/" -> ["a/", "a/b/"]. */
export function ancestors(folder) {
  const found = [];
  for (let i = folder.indexOf("/"); i !== -1; i = folder.indexOf("/", i + 1)) {
    found.push(folder.slice(0, i + 1));
  }
  return found;
}

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One page of the level under `prefix`, from `start` ({cursor, seen}: where the listing
 * resumes, and the folders earlier pages showed). Returns {folders, keys, next}: folders as
 * full prefixes ("sports/"), keys as items without their values, and the start of the next
 * page or null at the end.
 */
async function readPage(prefix, start) {
  const folder = folderOf(prefix);
  const seen = new Set(start.seen);
  const folders = [];
  const keys = [];
  let cursor = start.cursor;
  for (let reads = 0; reads < MAX_READS; reads++) {
    const room = PAGE_SIZE - folders.length - keys.length;
    const page = await list(prefix, room, cursor);
    for (const { key, version, updated_at, expires_at } of page.items) {
      const slash = key.indexOf("/", folder.length);
      if (slash === -1) {
        keys.push({ key, version, updated_at, expires_at });
      } else if (!seen.has(key.slice(0, slash + 1))) {
        seen.add(key.slice(0, slash + 1));
        folders.push(key.slice(0, slash + 1));
      }
    }
    cursor = page.next_cursor;
    if (cursor === null || folders.length + keys.length >= PAGE_SIZE) break;
  }
  folders.sort(byName);
  keys.sort((a, b) => byName(a.key, b.key));
  return { folders, keys, next: cursor === null ? null : { cursor, seen: [...seen] } };
}

/** A level being paged through: next() and previous() move by one page. */
export class Level {
  constructor(prefix) {
    this.prefix = prefix;
    this.folder = folderOf(prefix);
    this.starts = [{ cursor: null, seen: [] }];
    this.index = 0;
    this.page = null;
  }

  get hasPrevious() {
    return this.index > 0;
  }

  get hasNext() {
    return this.index + 1 < this.starts.length;
  }

  /** Reads the current page (again): {folders, keys}. */
  async load() {
    const page = await readPage(this.prefix, this.starts[this.index]);
    this.starts.length = this.index + 1;
    if (page.next !== null) this.starts.push(page.next);
    this.page = page;
    return page;
  }

  async next() {
    if (this.hasNext) this.index++;
    return this.load();
  }

  async previous() {
    if (this.hasPrevious) this.index--;
    return this.load();
  }
}
