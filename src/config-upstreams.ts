// The UPSTREAMS descriptors (DESIGN §12) validated: one JSON array, each descriptor checked with zod,
// names and prefixes checked against each other; the UPSTREAMS / UPSTREAMS_FILE variables read here from
// the environment config.ts hands in.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type Env, url } from './config-fields.ts';

/** The upstreams' fields of the config schema (config-schema.ts spreads them in). */
export const upstreamsEnv = {
  // issue 24: more upstreams (DESIGN §12); parsed by upstreamsOf()
  UPSTREAMS: z
    .string()
    .optional()
    .describe('more upstreams than the HuggingFace router: a JSON array of descriptors (docs/upstreams.md)'),
  UPSTREAMS_FILE: z
    .string()
    .trim()
    .optional()
    .describe('a path to a file holding the same JSON array as UPSTREAMS (one of the two, not both)'),
};

/** An upstream's name or pricing provider: what api_provider_pricing.provider and log fields accept. */
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const NAME_RULE = 'must be 1-64 characters: a-z, 0-9, ".", "_" or "-", starting with a letter or digit';

/** One UPSTREAMS descriptor (DESIGN §12); unknown keys are refused, so a typo cannot pass silently. */
const upstreamDescriptor = z
  .object({
    name: z.string().regex(NAME, NAME_RULE),
    base_url: url,
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be the name of an environment variable')
      .optional(),
    provider: z.string().regex(NAME, NAME_RULE),
    prefix: z
      .string()
      .min(1, 'must not be empty (the HuggingFace router takes every model no prefix claims)')
      .max(128, 'must be at most 128 characters')
      .regex(/^[A-Za-z0-9._:/@+-]+$/, 'may hold only letters, digits and . _ : / @ + -'),
    strip_prefix: z.boolean().default(true),
    endpoints: z
      .array(z.string().regex(/^\/[a-z0-9/._-]{1,64}$/, 'must be OpenAI paths like "/chat/completions"'))
      .min(1, 'must list at least one endpoint (omit it for all)')
      .optional(),
    catalog: z.boolean().default(false),
  })
  .strict();

/** A configured upstream, validated, its token read from the variable token_env names. */
export type UpstreamConfig = {
  name: string;
  baseUrl: string;
  token: string | undefined;
  provider: string;
  prefix: string;
  stripPrefix: boolean;
  /** OpenAI paths it serves; undefined: every endpoint */
  endpoints: readonly string[] | undefined;
  catalog: boolean;
};

/** At most this many upstreams: routing tries each prefix in turn. */
const MAX_UPSTREAMS = 64;

/**
 * The descriptors in `text` (a JSON array), validated; pushes one line per problem, each naming its
 * field (`UPSTREAMS[1].base_url: must be an http(s) URL`). A token is never part of a line.
 */
export function parseUpstreams({
  text,
  label,
  tokenOf,
  problems,
}: {
  text: string;
  /** the variable the JSON came from, to start each line with */
  label: string;
  /** the value of the environment variable `name` (unset or empty: undefined) */
  tokenOf: (name: string) => string | undefined;
  problems: string[];
}): UpstreamConfig[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    problems.push(`${label}: is not valid JSON (${(err as Error).message})`);
    return [];
  }
  if (!Array.isArray(list) || list.length > MAX_UPSTREAMS) {
    problems.push(`${label}: must be a JSON array of at most ${MAX_UPSTREAMS} upstream descriptors`);
    return [];
  }
  const out: UpstreamConfig[] = [];
  list.forEach((item: unknown, i) => {
    const parsed = upstreamDescriptor.safeParse(item);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
        problems.push(`${label}[${i}]${field}: ${issue.message}`);
      }
      return;
    }
    const d = parsed.data;
    const token = d.token_env === undefined ? undefined : tokenOf(d.token_env);
    const clash = (what: string) => problems.push(`${label}[${i}].${what}`);
    if (d.token_env !== undefined && token === undefined) clash(`token_env: ${d.token_env} is not set`);
    if (d.name === 'huggingface' || out.some((u) => u.name === d.name))
      clash(`name: "${d.name}" is already taken (the router is "huggingface")`);
    const shadow = out.find((u) => d.prefix.startsWith(u.prefix));
    if (shadow)
      clash(`prefix: "${d.prefix}" is never reached: "${shadow.prefix}" (${shadow.name}) comes first`);
    out.push({
      name: d.name,
      baseUrl: d.base_url,
      token,
      provider: d.provider,
      prefix: d.prefix,
      stripPrefix: d.strip_prefix,
      endpoints: d.endpoints,
      catalog: d.catalog,
    });
  });
  return out;
}

/**
 * UPSTREAMS (or the file UPSTREAMS_FILE names) → validated upstreams; pushes one line per problem.
 * Each token is read here, from the variable its descriptor's token_env names.
 */
export function upstreamsOf(
  env: Env,
  inline: string | undefined,
  file: string | undefined,
  problems: string[],
): UpstreamConfig[] {
  if (inline !== undefined && file !== undefined) {
    problems.push('UPSTREAMS_FILE: set UPSTREAMS or UPSTREAMS_FILE, not both');
    return [];
  }
  let text = inline;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push(`UPSTREAMS_FILE: cannot be read (${code}: ${file})`);
      return [];
    }
  }
  if (text === undefined) return [];
  return parseUpstreams({
    text,
    label: file === undefined ? 'UPSTREAMS' : 'UPSTREAMS_FILE',
    tokenOf: (name) => env[name]?.trim() || undefined,
    problems,
  });
}
