// A throwaway PostgreSQL database on a server: created fresh, dropped after. For the benchmark and tests.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export type ScratchDatabase = { url: string; drop(): Promise<void> };

/** Creates `<prefix>_<random>` on the server `serverUrl` points at; throws when it cannot. */
export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await admin.unsafe(`create database ${name}`);
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
