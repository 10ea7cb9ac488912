// The recorded gpt-oss-120b-on-Groq replies the benchmark's mock upstream serves, read from the
// repository's test/fixtures: the same bytes the tests replay, one copy for both.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type Fixtures = {
  /** the directory the fixtures came from */
  source: string;
  /** the non-streaming reply body (JSON) */
  json: Buffer;
  /** the SSE events, one buffer per event (each ends with its blank line), `data: [DONE]` last */
  events: Buffer[];
  /** the response headers the HF router sent with the recordings (pass-through material) */
  jsonHeaders: Record<string, string>;
  sseHeaders: Record<string, string>;
};

/** The repository root: the nearest directory above this module holding package.json. */
export function repositoryRoot(from = import.meta.dirname): string {
  for (let dir = from; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${from}`);
}

/** Splits an SSE text into its events, each keeping its terminating blank line. */
export function sseEvents(text: string): Buffer[] {
  return text
    .split(/(?<=\n\n)/)
    .filter((event) => event.trim() !== '')
    .map((event) => Buffer.from(event));
}

/** A usage-only chunk (`choices: []` with `usage`): a real upstream sends it only when asked. */
export function isUsageOnly(event: Buffer): boolean {
  return event.includes('"choices":[]') && event.includes('"usage":');
}

export function loadFixtures(root = repositoryRoot()): Fixtures {
  const dir = join(root, 'test', 'fixtures');
  const read = (...parts: string[]) => {
    const path = join(dir, ...parts);
    if (!existsSync(path)) throw new Error(`bench: no recorded fixture at ${path}`);
    return readFileSync(path);
  };
  const headers = (...parts: string[]) =>
    JSON.parse(read(...parts).toString('utf8')) as Record<string, string>;
  return {
    source: dir,
    json: read('nonstream', 'hf-groq-gpt-oss-120b.response.json'),
    events: sseEvents(read('stream', 'hf-groq-gpt-oss-120b.include-usage.sse').toString('utf8')),
    jsonHeaders: headers('nonstream', 'hf-groq-gpt-oss-120b.response.headers.json'),
    sseHeaders: headers('stream', 'hf-groq-gpt-oss-120b.stream.headers.json'),
  };
}
