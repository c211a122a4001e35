// JSON as text. A value is shown, edited and sent as the exact text of its JSON, never as a
// JavaScript object: JSON.parse would round 12345678901234567890, turn 1.0 into 1 and move
// members named like numbers to the front, and a Save would write that back. So values are
// re-indented token by token (pretty), cut out of a response by scanning (member), and
// checked with JSON.parse only to refuse what is not JSON (invalid).

const SPACE = new Set([" ", "\t", "\n", "\r"]);
const PUNCTUATION = new Set(["{", "}", "[", "]", ",", ":"]);

function skipSpace(text, i) {
  while (i < text.length && SPACE.has(text[i])) i++;
  return i;
}

// Index just past the string that opens at `i`.
function stringEnd(text, i) {
  let j = i + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
  return j + 1;
}

// Index just past the value that starts at `i`.
function valueEnd(text, i) {
  if (text[i] === '"') return stringEnd(text, i);
  if (text[i] === "{" || text[i] === "[") {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = stringEnd(text, j) - 1;
      else if (c === "{" || c === "[") depth++;
      else if ((c === "}" || c === "]") && --depth === 0) return j + 1;
    }
    return text.length;
  }
  let j = i;
  while (j < text.length && !SPACE.has(text[j]) && !PUNCTUATION.has(text[j])) j++;
  return j;
}

/** The text of member `name` of the JSON object `text`, exactly as it stands there. */
export function member(text, name) {
  let i = skipSpace(text, 0);
  if (text[i] !== "{") return undefined;
  i = skipSpace(text, i + 1);
  while (text[i] === '"') {
    const nameEnd = stringEnd(text, i);
    const found = JSON.parse(text.slice(i, nameEnd));
    const start = skipSpace(text, skipSpace(text, nameEnd) + 1); // past the ':'
    const end = valueEnd(text, start);
    if (found === name) return text.slice(start, end);
    i = skipSpace(text, end);
    if (text[i] !== ",") break;
    i = skipSpace(text, i + 1);
  }
  return undefined;
}

/** `text` (valid JSON) indented by two spaces a level; strings and numbers untouched. */
export function pretty(text) {
  let out = "";
  let depth = 0;
  const newline = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (SPACE.has(c)) {
      i++;
    } else if (c === '"') {
      const end = stringEnd(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (c === "{" || c === "[") {
      const next = skipSpace(text, i + 1);
      if (text[next] === (c === "{" ? "}" : "]")) {
        out += c + text[next]; // an empty container stays on its line
        i = next + 1;
      } else {
        depth++;
        out += c + newline();
        i++;
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out += newline() + c;
      i++;
    } else if (c === ",") {
      out += "," + newline();
      i++;
    } else if (c === ":") {
      out += ": ";
      i++;
    } else {
      const end = valueEnd(text, i);
      out += text.slice(i, end);
      i = end;
    }
  }
  return out;
}

/** Why `text` is not JSON, or null when it is. */
export function invalid(text) {
  try {
    JSON.parse(text);
    return null;
  } catch (error) {
    return error.message;
  }
}
