// Server-sent events, observed in passing: splits a byte stream into whole events, each with its exact
// raw bytes (forwarded unchanged) and its parsed fields (read by the meter).
// Parsing rules: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

export type SseEvent = {
  /** the event's bytes exactly as received, its terminating blank line included */
  raw: Uint8Array;
  event: string | undefined;
  /** data lines joined with \n; undefined when the event had no data field */
  data: string | undefined;
  /** data is the OpenAI stream terminator `[DONE]` */
  isDone: boolean;
};

export type SseSplitter = {
  /** feeds a chunk; returns the events it completed */
  push(chunk: Uint8Array): SseEvent[];
  /** bytes of an unterminated trailing event (and any blank lines after the last event) */
  rest(): Uint8Array;
};

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const DATA = new TextEncoder().encode('data');
const EVENT = new TextEncoder().encode('event');
/** bytes; the smallest buffer we allocate to carry an event across chunks */
const MIN_CAPACITY = 8 * 1024;
const decoder = new TextDecoder();

export function createSseSplitter(): SseSplitter {
  // buffer[eventStart, length) is the unfinished event. Bytes before eventStart were handed out as `raw`
  // views and are never written again; we append past `length` only into a buffer we allocated.
  let buffer = new Uint8Array(0) as Uint8Array;
  let length = 0;
  let owned = false;
  let eventStart = 0;
  let lineStart = 0;
  // where scanning resumes, so an event arriving in many chunks is scanned once
  let scan = 0;
  // the last line ended in a CR with no LF after it: the stream uses CR line endings
  let loneCr = false;
  // fields of the unfinished event; hasLine: it has a non-blank line, so a blank line dispatches it
  let hasLine = false;
  let event: string | undefined;
  let data: string | undefined;

  function append(chunk: Uint8Array): void {
    if (eventStart === length) {
      // nothing pending: scan the caller's chunk in place, no copy
      buffer = chunk;
      length = chunk.length;
      owned = false;
      eventStart = lineStart = scan = 0;
    } else if (owned && buffer.length - length >= chunk.length) {
      buffer.set(chunk, length);
      length += chunk.length;
    } else {
      // grow by doubling so a big event in small chunks costs linear copying
      const pending = length - eventStart;
      const grown = new Uint8Array(Math.max(MIN_CAPACITY, 2 * (pending + chunk.length)));
      grown.set(buffer.subarray(eventStart, length));
      grown.set(chunk, pending);
      lineStart -= eventStart;
      scan -= eventStart;
      eventStart = 0;
      buffer = grown;
      length = pending + chunk.length;
      owned = true;
    }
  }

  function readLine(line: Uint8Array): void {
    hasLine = true;
    // comments (`:` first) and other fields (id, retry) match neither name and are skipped undecoded
    const value = fieldValue(line, DATA);
    if (value !== undefined) data = data === undefined ? value : `${data}\n${value}`;
    else event = fieldValue(line, EVENT) ?? event;
  }

  return {
    push(chunk) {
      append(chunk);
      const view = buffer.subarray(0, length);
      const events: SseEvent[] = [];
      // next CR and LF at or after `scan`, searched again only once passed, so each byte is read once
      let lf = view.indexOf(LF, scan);
      let cr = view.indexOf(CR, scan);
      while (lf !== -1 || cr !== -1) {
        const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
        let next = end + 1;
        if (end === cr) {
          // a CR at the chunk's end may be half of a CRLF: wait for the next byte, unless it ends the
          // blank line of a CR-only stream (`\r\r`), where no LF is coming and the event is complete
          if (next === length && !(end === lineStart && loneCr)) {
            scan = end;
            return events;
          }
          if (view[next] === LF) next += 1;
        }
        loneCr = next === end + 1 && view[end] === CR;
        if (end > lineStart) readLine(view.subarray(lineStart, end));
        else if (hasLine) {
          events.push({ raw: view.subarray(eventStart, next), event, data, isDone: data === '[DONE]' });
          eventStart = next;
          hasLine = false;
          event = data = undefined;
        }
        // a blank line before any field line is no event: it rides along with the next one
        lineStart = scan = next;
        if (lf !== -1 && lf < next) lf = view.indexOf(LF, next);
        if (cr !== -1 && cr < next) cr = view.indexOf(CR, next);
      }
      scan = length;
      return events;
    },
    rest: () => buffer.subarray(eventStart, length),
  };
}

/** The value of `name: value` (one leading space stripped) or of a bare `name`; undefined for other fields. */
function fieldValue(line: Uint8Array, name: Uint8Array): string | undefined {
  const colon = name.length;
  if (line.length < colon) return undefined;
  for (let i = 0; i < colon; i++) if (line[i] !== name[i]) return undefined;
  if (line.length === colon) return '';
  if (line[colon] !== COLON) return undefined;
  return decoder.decode(line.subarray(line[colon + 1] === SPACE ? colon + 2 : colon + 1));
}

/** JSON of an event's data; undefined for no data, `[DONE]`, or anything not JSON. */
export function parseEventJson(event: SseEvent): unknown {
  if (event.data === undefined || event.isDone) return undefined;
  try {
    return JSON.parse(event.data);
  } catch {
    return undefined;
  }
}
