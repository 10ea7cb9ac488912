// Sets one top-level member of a JSON object in its bytes, leaving every other byte as the client
// sent it: re-serializing the parsed body would round integers beyond 2^53 and reorder nothing useful.
// The scan is iterative (no recursion), so nesting depth cannot overflow the stack.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

type Member = { key: string; valueStart: number; valueEnd: number };

const isSpace = (byte: number | undefined) =>
  byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/**
 * `raw` (a JSON object the caller already parsed) with top-level member `key` set to `valueJson`:
 * every occurrence's value replaced, or the member appended when there is none.
 */
export function setTopLevelMember(raw: Uint8Array, key: string, valueJson: string): Uint8Array {
  const { members, lastValueEnd, openAt } = scanObject(raw);
  const value = Buffer.from(valueJson);
  const hits = members.filter((m) => m.key === key);
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (hits.length === 0) {
    const at = lastValueEnd ?? openAt + 1;
    const member = Buffer.from(`${lastValueEnd === undefined ? '' : ','}${JSON.stringify(key)}:`);
    return Buffer.concat([bytes.subarray(0, at), member, value, bytes.subarray(at)]);
  }
  const parts: Buffer[] = [];
  let from = 0;
  for (const hit of hits) {
    parts.push(bytes.subarray(from, hit.valueStart), value);
    from = hit.valueEnd;
  }
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}

/** The top-level members of a JSON object: their keys and where their values sit. */
function scanObject(raw: Uint8Array): {
  members: Member[];
  lastValueEnd: number | undefined;
  openAt: number;
} {
  let i = skipSpace(raw, 0);
  if (raw[i] !== OPEN_BRACE) throw new Error('not a JSON object');
  const openAt = i;
  const members: Member[] = [];
  let lastValueEnd: number | undefined;
  i = skipSpace(raw, i + 1);
  while (i < raw.length && raw[i] !== CLOSE_BRACE) {
    const keyEnd = stringEnd(raw, i);
    const key = JSON.parse(Buffer.from(raw.subarray(i, keyEnd)).toString('utf8')) as string;
    i = skipSpace(raw, keyEnd);
    if (raw[i] !== COLON) throw new Error('malformed JSON object');
    const valueStart = skipSpace(raw, i + 1);
    const valueEnd = valueEndAt(raw, valueStart);
    members.push({ key, valueStart, valueEnd });
    lastValueEnd = valueEnd;
    i = skipSpace(raw, valueEnd);
    if (raw[i] === COMMA) i = skipSpace(raw, i + 1);
  }
  return { members, lastValueEnd, openAt };
}

function skipSpace(raw: Uint8Array, from: number): number {
  let i = from;
  while (isSpace(raw[i])) i++;
  return i;
}

/** Index just past the string that starts at `start` (a quote). */
function stringEnd(raw: Uint8Array, start: number): number {
  let i = start + 1;
  while (i < raw.length) {
    const byte = raw[i];
    if (byte === BACKSLASH) i += 2;
    else if (byte === QUOTE) return i + 1;
    else i++;
  }
  throw new Error('unterminated JSON string');
}

/** Index just past the value that starts at `start`: a string, a nested object/array, or a literal. */
function valueEndAt(raw: Uint8Array, start: number): number {
  if (raw[start] === QUOTE) return stringEnd(raw, start);
  let depth = 0;
  let i = start;
  while (i < raw.length) {
    const byte = raw[i] as number;
    if (byte === QUOTE) {
      i = stringEnd(raw, i);
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (depth === 0) return i;
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (byte === COMMA || isSpace(byte))) return i;
    i++;
  }
  return i;
}
