// Node's production flags stand in four places (npm start, the image, the production check, the bench),
// because V8 flags such as --liftoff-only cannot travel in NODE_OPTIONS. The bench measures what
// production runs only while they agree.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryRoot } from '../../bench/fixtures.ts';
import { PRODUCTION_ENV, PRODUCTION_NODE_ARGS } from '../../bench/gateway.ts';
import { needsLiftoffOnly } from '../../scripts/wasm-tier.mjs';

const root = repositoryRoot();
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const shellLine = `${Object.entries(PRODUCTION_ENV)
  .map(([k, v]) => `${k}=${v}`)
  .join(' ')} node ${PRODUCTION_NODE_ARGS.join(' ')} dist/server.mjs`;

describe("production's node flags", () => {
  it('are the same in npm start, scripts/prod-check.sh, the Dockerfile and the bench', () => {
    expect(PRODUCTION_NODE_ARGS).toContain('--max-semi-space-size=16');
    expect(JSON.parse(read('package.json')).scripts.start).toContain(shellLine);
    expect(read('scripts/prod-check.sh')).toContain(shellLine);
    expect(read('Dockerfile')).toContain(
      `CMD ${JSON.stringify(['node', ...PRODUCTION_NODE_ARGS, 'dist/server.mjs']).replaceAll(',', ', ')}`,
    );
  });
});

describe('--liftoff-only where PGlite runs (scripts/wasm-tier.mjs)', () => {
  const embedded = { env: {}, execArgv: [], dotenvText: '' };
  it('is added when no DATABASE_URL is set, or it is blank', () => {
    expect(needsLiftoffOnly(embedded)).toBe(true);
    expect(needsLiftoffOnly({ ...embedded, env: { DATABASE_URL: '  ' } })).toBe(true);
    expect(needsLiftoffOnly({ ...embedded, dotenvText: 'DATABASE_URL=\nPORT=1\n' })).toBe(true);
  });
  it('is not added on PostgreSQL, named by the environment or by .env', () => {
    expect(needsLiftoffOnly({ ...embedded, env: { DATABASE_URL: 'postgres://h/db' } })).toBe(false);
    expect(needsLiftoffOnly({ ...embedded, dotenvText: 'DATABASE_URL=postgres://h/db\n' })).toBe(false);
  });
  it('the environment wins over .env, as in the config', () => {
    expect(
      needsLiftoffOnly({
        env: { DATABASE_URL: '' },
        execArgv: [],
        dotenvText: 'DATABASE_URL=postgres://h/db',
      }),
    ).toBe(true);
  });
  it('is never added twice, nor against an explicit choice', () => {
    expect(needsLiftoffOnly({ ...embedded, execArgv: ['--liftoff-only'] })).toBe(false);
    expect(needsLiftoffOnly({ ...embedded, execArgv: ['--no-liftoff-only'] })).toBe(false);
  });
});
