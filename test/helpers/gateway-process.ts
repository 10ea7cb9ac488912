// The built gateway (dist/src/server.js, made by `npm run build`, which `npm test` runs first) as a
// real child process: for tests that kill it, stop its database, or run two of it.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { request } from 'undici';
import { ADMIN_KEY } from './gateway.ts';
import { freePort } from './postgres-instance.ts';

const SERVER = new URL('../../dist/src/server.js', import.meta.url);

export type GatewayProcess = {
  url: string;
  child: ChildProcess;
  output: () => string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
};

export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  if (!existsSync(SERVER))
    throw new Error('dist/src/server.js is missing: run `npm run build` (npm test does)');
  const port = await freePort();
  const child = spawn(process.execPath, [SERVER.pathname], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited early (${child.exitCode}): ${output}`);
    try {
      const res = await request(`${url}/healthz`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`gateway did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => output,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
