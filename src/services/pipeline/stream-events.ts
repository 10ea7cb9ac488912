// What a stream's events say: an event's data is parsed as JSON and read by the endpoint's adapter,
// and what the row needs is kept as they pass (the usage, the model and id, the first token's time, the
// generated text for an estimate when the usage is missing or all zero). Once the first token is timed,
// an event whose unparsed data tells the adapter it holds nothing for the row but text is kept as it
// is: parsed, once, only when an estimate needs its text, which a stream that reports usage never does.
import { badGateway } from '../../errors.ts';
import type { SseEvent } from '../../metering/sse.ts';
import { billedUsage, laterUsage, type TokenUsage } from '../../metering/usage.ts';
import { elapsedMs, type MeteredCall } from './call.ts';
import { estimateTokens } from './meter.ts';
import { type StreamFailure, upstreamErrorEvent } from './stream-errors.ts';
import type { MeteredTokens } from './usage-row.ts';

/** Generated text kept for an estimate; beyond it, characters are counted (4 to a token). */
const MAX_TEXT_CHARS = 1 << 20;

/**
 * Unparsed events' data kept at most (chars): beyond it they are read for their text, so a long
 * stream holds no more than this and its text.
 */
const MAX_UNPARSED_CHARS = 1 << 20;

/** An event kept unparsed, for its text. */
type Unparsed = { type: string | undefined; data: string };

/** What the relay does with one event. */
export type Action = { kind: 'forward' } | { kind: 'hide' } | { kind: 'done' } | StreamFailure;

export class StreamEvents {
  model: string | undefined;
  id: string | undefined;
  ttftMs: number | undefined;
  /** the completion finished, so a body that ends without its terminator still ended cleanly */
  finished = false;
  private usage: TokenUsage | undefined;
  private text = '';
  private overflowChars = 0;
  /** what comes after `text`, in stream order: unparsed events and text read since the first of them */
  private later: Array<Unparsed | string> = [];
  private unparsedChars = 0;
  private readonly call: MeteredCall;
  private readonly clientAskedUsage: boolean;

  constructor(call: MeteredCall, clientAskedUsage: boolean) {
    this.call = call;
    this.clientAskedUsage = clientAskedUsage;
  }

  /** What one event means: data is parsed as JSON and read by the endpoint's adapter. */
  read(event: SseEvent): Action {
    const { data } = event;
    if (data === undefined) return { kind: 'forward' };
    const { adapter } = this.call;
    if (adapter.isTerminator(data)) return { kind: 'done' };
    const textOnly =
      this.ttftMs !== undefined &&
      event.event !== 'error' &&
      objectShaped(data) &&
      adapter.textOnly?.(event.event, data) === true;
    if (textOnly) {
      this.keepUnparsed({ type: event.event, data });
      return { kind: 'forward' };
    }
    const parsed = parseJson(data);
    if (event.event === 'error') return upstreamErrorEvent(parsed, data);
    if (parsed === undefined) {
      return {
        kind: 'failed',
        error: badGateway('The upstream sent a stream event that is not JSON.'),
        passThrough: false,
      };
    }
    const verdict = adapter.readEvent(event.event, parsed, this.clientAskedUsage);
    // snapshots are cumulative: a later zero or smaller one never erases a real one
    if (verdict.usage) this.usage = laterUsage(this.usage, verdict.usage);
    this.model ??= verdict.model;
    this.id ??= verdict.id;
    if (verdict.firstToken && this.ttftMs === undefined) this.ttftMs = elapsedMs(this.call);
    if (verdict.finished) this.finished = true;
    if (verdict.text) this.keepText(verdict.text);
    if (verdict.end === 'ok') return { kind: 'done' };
    if (verdict.end === 'failed') {
      return {
        kind: 'failed',
        error: badGateway(verdict.error ?? 'The upstream failed the response.'),
        passThrough: true,
      };
    }
    return verdict.hidden ? { kind: 'hide' } : { kind: 'forward' };
  }

  /**
   * Reported usage, else an estimate (an all-zero usage is a placeholder, estimated too). `promptBilled`
   * false: a failed stream that generated nothing cost nothing (the upstream refused it); true: the
   * upstream took the prompt (an answer, an abort).
   */
  async tokens(promptBilled: boolean): Promise<MeteredTokens> {
    const usage = billedUsage(this.usage);
    if (usage) return { source: 'upstream', usage };
    this.readUnparsed();
    if (!promptBilled && this.text.length === 0 && this.overflowChars === 0) return { source: 'none' };
    const estimate = await estimateTokens(this.call, this.text);
    if (estimate.source !== 'estimated') return estimate;
    return { ...estimate, completionTokens: estimate.completionTokens + Math.ceil(this.overflowChars / 4) };
  }

  private keepText(text: string): void {
    if (this.later.length > 0) this.later.push(text);
    else this.appendText(text);
  }

  private keepUnparsed(event: Unparsed): void {
    this.later.push(event);
    this.unparsedChars += event.data.length;
    if (this.unparsedChars > MAX_UNPARSED_CHARS) this.readUnparsed();
  }

  /** Reads the unparsed events' text (each parsed once, here), in stream order. */
  private readUnparsed(): void {
    const { adapter } = this.call;
    for (const part of this.later) {
      if (typeof part === 'string') this.appendText(part);
      else {
        const parsed = parseJson(part.data);
        const text =
          parsed === undefined ? undefined : adapter.readEvent(part.type, parsed, this.clientAskedUsage).text;
        if (text) this.appendText(text);
      }
    }
    this.later = [];
    this.unparsedChars = 0;
  }

  private appendText(text: string): void {
    const room = MAX_TEXT_CHARS - this.text.length;
    if (text.length <= room) this.text += text;
    else {
      this.text += text.slice(0, Math.max(0, room));
      this.overflowChars += text.length - Math.max(0, room);
    }
  }
}

/**
 * Data that starts and ends like a JSON object: the cheap check an unparsed event gets, so a stream
 * that turns to garbage (HTML, plain text, a cut object) still fails as it passes.
 */
function objectShaped(data: string): boolean {
  return data.charCodeAt(0) === 0x7b && data.charCodeAt(data.length - 1) === 0x7d;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
