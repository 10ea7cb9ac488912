// The recorded gpt-oss-120b-on-Groq replies the benchmark's mock upstream serves: read from
// ../shared/fixtures next to the repository when it is there, else rebuilt from the copy embedded below.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type Fixtures = {
  /** where the fixtures came from: a directory, or `embedded` */
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
  const dir = join(root, '..', 'shared', 'fixtures');
  const file = (...parts: string[]) => join(dir, ...parts);
  const jsonFile = file('nonstream', 'hf-groq-gpt-oss-120b.response.json');
  const sseFile = file('stream', 'hf-groq-gpt-oss-120b.include-usage.sse');
  if (!existsSync(jsonFile) || !existsSync(sseFile)) return embeddedFixtures();
  const headers = (path: string, fallback: Record<string, string>) =>
    existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>) : fallback;
  return {
    source: dir,
    json: readFileSync(jsonFile),
    events: sseEvents(readFileSync(sseFile, 'utf8')),
    jsonHeaders: headers(file('nonstream', 'hf-groq-gpt-oss-120b.response.headers.json'), JSON_HEADERS),
    sseHeaders: headers(file('stream', 'hf-groq-gpt-oss-120b.stream.headers.json'), SSE_HEADERS),
  };
}

// The embedded copy: the same recordings, rebuilt byte for byte from their parts.
const PROVIDER_HEADERS = {
  'x-inference-provider': 'groq',
  'x-ratelimit-limit-requests': '500000',
  'x-ratelimit-limit-tokens': '300000',
  'x-powered-by': 'huggingface-moon',
  'access-control-allow-origin': '*',
  vary: 'Accept-Encoding',
};
const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'x-request-id': 'req_01kx3v9q7gfs2b8m4d6tzn0c5h',
  ...PROVIDER_HEADERS,
};
const SSE_HEADERS = {
  'content-type': 'text/event-stream;charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-request-id': 'req_01kx3w4t8hfq6c2n9r5vb7m1zd',
  ...PROVIDER_HEADERS,
};

const REPLY = {
  id: 'chatcmpl-3b1f6c2e-8d4a-4f0b-9c7e-5a2d1e9f7c41',
  object: 'chat.completion',
  created: 1795478412,
  model: 'openai/gpt-oss-120b',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content:
          'The sky looks blue because molecules in the atmosphere scatter short blue wavelengths of sunlight far more than longer red ones (Rayleigh scattering), so blue light reaches our eyes from every direction.',
        reasoning:
          'The user wants a one-sentence explanation of why the sky is blue. Mention Rayleigh scattering: shorter blue wavelengths scatter more in the atmosphere.',
      },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: {
    queue_time: 0.081352904,
    prompt_tokens: 81,
    prompt_time: 0.004127881,
    completion_tokens: 76,
    completion_time: 0.156057495,
    total_tokens: 157,
    total_time: 0.160185376,
    completion_tokens_details: { reasoning_tokens: 30 },
  },
  usage_breakdown: null,
  system_fingerprint: 'fp_c868cf1eaa',
  x_groq: { id: 'req_01kx3v9q7gfs2b8m4d6tzn0c5h', seed: 1283746509 },
  service_tier: 'on_demand',
};

const REASONING = 'User| asks| for| the| capital| of| France| in| one| short| sentence|.| Answer|:| Paris|.';
const CONTENT = 'The| capital| of| France| is| Paris|.';
const X_GROQ = { id: 'req_01kx3w4t8hfq6c2n9r5vb7m1zd', seed: 918273645 };

/** The embedded copy alone (what the mock serves when ../shared/fixtures is missing). */
export function embeddedFixtures(): Fixtures {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({
      id: 'chatcmpl-7c2e9f14-5b3a-4d8e-a1f6-0e4b7d2c9a35',
      object: 'chat.completion.chunk',
      created: 1795478530,
      model: 'openai/gpt-oss-120b',
      system_fingerprint: 'fp_e8236260a9',
      choices,
      ...extra,
    })}\n\n`;
  const delta = (d: Record<string, string>, finish: string | null = null) => [
    { index: 0, delta: d, logprobs: null, finish_reason: finish },
  ];
  const events = [
    chunk(delta({ role: 'assistant', content: '' }), { x_groq: X_GROQ }),
    ...REASONING.split('|').map((r) => chunk(delta({ reasoning: r, channel: 'analysis' }))),
    ...CONTENT.split('|').map((c) => chunk(delta({ content: c }))),
    chunk(delta({}, 'stop')),
    chunk([], {
      usage: {
        queue_time: 0.046193562,
        prompt_tokens: 84,
        prompt_time: 0.003571204,
        completion_tokens: 34,
        completion_time: 0.069105691,
        total_tokens: 118,
        total_time: 0.072676895,
        completion_tokens_details: { reasoning_tokens: 17 },
      },
      x_groq: X_GROQ,
    }),
    'data: [DONE]\n\n',
  ];
  return {
    source: 'embedded',
    json: Buffer.from(`${JSON.stringify(REPLY, null, 2)}\n`),
    events: events.map((e) => Buffer.from(e)),
    jsonHeaders: JSON_HEADERS,
    sseHeaders: SSE_HEADERS,
  };
}
