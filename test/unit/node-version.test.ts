// The Node version check (scripts/check-node.mjs): one clear line and exit 1 on a Node older than
// 22.12, run before anything that would crash, from the npm scripts and from dist/server.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem } from '../../scripts/check-node.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const SYSTEM_NODE = '/usr/bin/node';
const systemNodeIsOld =
  existsSync(SYSTEM_NODE) &&
  nodeVersionProblem(spawnSync(SYSTEM_NODE, ['-p', 'process.versions.node']).stdout.toString().trim()) !==
    null;

/** this Node, told it is `version` before any module of ours loads */
function runAs(version: string, script: string) {
  const fake = `Object.defineProperty(process,"versions",{value:{...process.versions,node:${JSON.stringify(version)}}})`;
  return spawnSync(process.execPath, ['--import', `data:text/javascript,${fake}`, script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'silent' },
    timeout: 20_000,
  });
}

describe('the Node version check', () => {
  it('names the version needed and the one found, and accepts 22.12 and later', () => {
    expect(nodeVersionProblem('20.20.2')).toBe('tollgate needs Node >= 22.12 (this is v20.20.2)');
    expect(nodeVersionProblem('22.11.0')).toBe('tollgate needs Node >= 22.12 (this is v22.11.0)');
    expect(nodeVersionProblem('22.12.0')).toBeNull();
    expect(nodeVersionProblem('23.0.0')).toBeNull();
    expect(nodeVersionProblem('24.21.0')).toBeNull();
  });

  it('exits 1 with that one line when run as a script on an older Node', () => {
    const run = runAs('20.20.2', 'scripts/check-node.mjs');
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('tollgate needs Node >= 22.12 (this is v20.20.2)\n');
    expect(runAs('24.0.0', 'scripts/check-node.mjs').status).toBe(0);
  });

  it('runs first in npm start, npm test and every build', () => {
    const { scripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
      scripts: Record<string, string>;
    };
    for (const name of ['start', 'pretest', 'build', 'dev']) {
      expect(scripts[name], name).toMatch(/^node scripts\/check-node\.mjs && /);
    }
  });

  it.skipIf(!existsSync(`${ROOT}dist/server.mjs`))(
    'stops the built server before its bundle loads (npm run build first)',
    () => {
      const run = runAs('20.20.2', 'dist/server.mjs');
      expect(run.status).toBe(1);
      expect(run.stderr).toBe('tollgate needs Node >= 22.12 (this is v20.20.2)\n');
    },
  );

  it.skipIf(!systemNodeIsOld || !existsSync(`${ROOT}dist/server.mjs`))(
    'stops the built server on a real old Node (the system /usr/bin/node) with no TypeError',
    () => {
      const run = spawnSync(SYSTEM_NODE, ['dist/server.mjs'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/^tollgate needs Node >= 22\.12 \(this is v\d+\.\d+\.\d+\)\n$/);
    },
  );
});
