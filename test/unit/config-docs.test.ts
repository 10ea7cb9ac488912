import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOCS_PATH, renderConfigDocs } from '../../scripts/config-docs.ts';
import { configSchema } from '../../src/config-schema.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const schemaNames = Object.keys(configSchema.shape).sort();

function envExampleNames(): string[] {
  return readFileSync(join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

describe('configuration docs', () => {
  it('docs/configuration.md is what `npm run docs:config` writes from the schema', () => {
    expect(readFileSync(CONFIG_DOCS_PATH, 'utf8')).toBe(renderConfigDocs());
  });

  it('describes every variable of the schema in one line', () => {
    for (const [name, field] of Object.entries(configSchema.shape)) {
      expect(field.description, name).toMatch(/\S/);
    }
  });

  it('.env.example lists every variable of the schema, and no other', () => {
    expect(envExampleNames()).toEqual(schemaNames);
  });

  it('the table names every variable of the schema, and no other', () => {
    const documented = [...readFileSync(CONFIG_DOCS_PATH, 'utf8').matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\|/gm)]
      .map((match) => match[1])
      .sort();
    expect(documented).toEqual(schemaNames);
  });
});
