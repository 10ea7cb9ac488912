// The recorded upstream replies in test/fixtures (copied from the team's shared recordings: a clone
// of the repository alone must pass its tests), read for tests.
import { readFileSync } from 'node:fs';

const root = new URL('../fixtures/', import.meta.url);

export function fixtureText(path: string): string {
  return readFileSync(new URL(path, root), 'utf8');
}

export function fixtureJson<T = unknown>(path: string): T {
  return JSON.parse(fixtureText(path)) as T;
}

/** An error fixture: its status, headers and body text. */
export function errorFixture(name: string): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  const meta = fixtureJson<{ status: number; headers: Record<string, string> }>(`errors/${name}.meta.json`);
  return { ...meta, body: fixtureText(`errors/${name}.json`) };
}
