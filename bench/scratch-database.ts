// A throwaway PostgreSQL database on a server: created fresh, dropped after. For the benchmark and tests.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export type ScratchDatabase = { url: string; drop(): Promise<void> };

/** Creates `<prefix>_<random>` on the server `serverUrl` points at; throws when it cannot. */
export async function createScratchDatabase(
  serverUrl: string,
  prefix: string,
  { template }: { template?: string } = {},
): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    // a copy of `template` (a database nobody is connected to), or an empty one
    await admin.unsafe(`create database ${name}${template ? ` template ${template}` : ''}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const again = postgres(serverUrl, { max: 1, onnotice: () => {} });
      await again.unsafe(`drop database if exists ${name} with (force)`);
      await again.end();
    },
  };
}
