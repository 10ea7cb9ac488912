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
  /** bytes of an unterminated trailing event */
  rest(): Uint8Array;
};

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

export function createSseSplitter(): SseSplitter {
  let buffer: Uint8Array = EMPTY;
  // where the current (unfinished) event starts, where the current line starts, where to resume scanning
  let eventStart = 0;
  let lineStart = 0;
  let scan = 0;

  return {
    push(chunk) {
      buffer = buffer.length === eventStart ? chunk : concat(buffer.subarray(eventStart), chunk);
      scan -= eventStart;
      lineStart -= eventStart;
      eventStart = 0;
      const events: SseEvent[] = [];
      while (scan < buffer.length) {
        const byte = buffer[scan];
        if (byte !== LF && byte !== CR) {
          scan += 1;
          continue;
        }
        // a CR ending a non-blank line may be half of a CRLF: wait for the next byte. A CR ending a blank
        // line ends the event now; an LF that follows is a stray blank line that rides with the next event.
        if (byte === CR && scan + 1 === buffer.length && scan !== lineStart) break;
        const lineEnd = scan;
        scan += byte === CR && buffer[scan + 1] === LF ? 2 : 1;
        if (lineEnd === lineStart && lineStart > eventStart) {
          events.push(parseEvent(buffer.subarray(eventStart, scan)));
          eventStart = scan;
        }
        lineStart = scan;
      }
      return events;
    },
    rest: () => buffer.subarray(eventStart),
  };
}

/** Fields of one complete event (its raw bytes end with a blank line). */
function parseEvent(raw: Uint8Array): SseEvent {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of decoder.decode(raw).split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  }
  return { raw, event, data, isDone: data === '[DONE]' };
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
