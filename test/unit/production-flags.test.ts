// Node's production flags stand in four places (npm start, the image, the production check, the bench),
// because V8 flags such as --liftoff-only cannot travel in NODE_OPTIONS. The bench measures what
// production runs only while they agree.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryRoot } from '../../bench/fixtures.ts';
import { PRODUCTION_ENV, PRODUCTION_NODE_ARGS } from '../../bench/gateway.ts';

const root = repositoryRoot();
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const shellLine = `${Object.entries(PRODUCTION_ENV)
  .map(([k, v]) => `${k}=${v}`)
  .join(' ')} node ${PRODUCTION_NODE_ARGS.join(' ')} dist/server.mjs`;

describe("production's node flags", () => {
  it('are the same in npm start, scripts/prod-check.sh, the Dockerfile and the bench', () => {
    expect(PRODUCTION_NODE_ARGS).toContain('--liftoff-only');
    expect(JSON.parse(read('package.json')).scripts.start).toContain(shellLine);
    expect(read('scripts/prod-check.sh')).toContain(shellLine);
    expect(read('Dockerfile')).toContain(
      `CMD ${JSON.stringify(['node', ...PRODUCTION_NODE_ARGS, 'dist/server.mjs']).replaceAll(',', ', ')}`,
    );
  });
});
