// The benchmark's mock upstream serves the repository's own recordings (test/fixtures), the same bytes
// the tests replay: no copy to drift, nothing read from outside the repository.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isUsageOnly, loadFixtures, repositoryRoot } from '../../bench/fixtures.ts';

describe('the benchmark fixtures', () => {
  it('come from test/fixtures, byte for byte', () => {
    const root = repositoryRoot();
    const fixtures = loadFixtures(root);
    const dir = join(root, 'test', 'fixtures');
    expect(fixtures.source).toBe(dir);
    expect(
      fixtures.json.equals(readFileSync(join(dir, 'nonstream', 'hf-groq-gpt-oss-120b.response.json'))),
    ).toBe(true);
    const sse = readFileSync(join(dir, 'stream', 'hf-groq-gpt-oss-120b.include-usage.sse'));
    expect(Buffer.concat(fixtures.events).toString()).toBe(sse.toString().replace(/\n*$/, '\n\n'));
    expect(fixtures.events.at(-1)?.toString()).toBe('data: [DONE]\n\n');
    expect(fixtures.events.some(isUsageOnly)).toBe(true);
    expect(fixtures.sseHeaders['x-inference-provider']).toBe('groq');
  });

  it('refuses, naming the file, when a recording is missing', () => {
    expect(() => loadFixtures('/nonexistent-root')).toThrow(
      /no recorded fixture at \/nonexistent-root\/test\/fixtures\//,
    );
  });
});
