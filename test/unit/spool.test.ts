import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSpool } from '../../src/ledger/spool.ts';

type Row = { id: string; at: Date; note?: string };

const fileIn = () => join(mkdtempSync(join(tmpdir(), 'tollgate-spool-')), 'usage-spool.ndjson');
const spoolAt = (path: string) =>
  createSpool<Row>({
    path,
    revive(value) {
      const row = value as { id?: unknown; at?: unknown; note?: string };
      if (typeof row.id !== 'string' || typeof row.at !== 'string') throw new Error('not a row');
      return { ...row, id: row.id, at: new Date(row.at) };
    },
  });
const row = (id: string): Row => ({ id, at: new Date('2026-11-24T10:00:00.000Z') });

describe('the usage spool', () => {
  it('gives back every appended row in order, revived', async () => {
    const spool = spoolAt(fileIn());
    await spool.append([row('a'), row('b')]);
    await spool.append([row('c')]);
    const { rows, torn } = await spool.readAll();
    expect(rows).toEqual([row('a'), row('b'), row('c')]);
    expect(rows[0]?.at).toBeInstanceOf(Date);
    expect(torn).toBe(0);
    await spool.close();
  });

  it('reads nothing from a spool that was never written', async () => {
    const spool = spoolAt(fileIn());
    expect(await spool.readAll()).toEqual({ rows: [], torn: 0 });
    expect(await spool.size()).toBe(0);
    expect(await spool.countLines()).toBe(0);
  });

  it('skips a torn last line left by a crash mid-write and keeps the whole rows', async () => {
    const path = fileIn();
    writeFileSync(path, `${JSON.stringify(row('a'))}\n${JSON.stringify(row('b'))}\n`);
    appendFileSync(path, JSON.stringify(row('c')).slice(0, 20));
    const { rows, torn } = await spoolAt(path).readAll();
    expect(rows.map((r) => r.id)).toEqual(['a', 'b']);
    expect(torn).toBe(1);
  });

  it('fences off a torn line so the rows appended after it read back whole', async () => {
    const path = fileIn();
    writeFileSync(path, '{"id":"torn","at":"2026-11');
    const spool = spoolAt(path);
    await spool.append([row('a')]);
    const { rows, torn } = await spool.readAll();
    expect(rows.map((r) => r.id)).toEqual(['a']);
    expect(torn).toBe(1);
    await spool.close();
  });

  it('counts a line that parses but is not a row as torn', async () => {
    const path = fileIn();
    writeFileSync(path, `${JSON.stringify(row('a'))}\n{"something":"else"}\n`);
    const { rows, torn } = await spoolAt(path).readAll();
    expect(rows.map((r) => r.id)).toEqual(['a']);
    expect(torn).toBe(1);
  });

  it('leaves a half-written line for the next read while appends may still be running', async () => {
    const path = fileIn();
    const whole = `${JSON.stringify(row('a'))}\n`;
    const half = JSON.stringify(row('b')).slice(0, 15);
    writeFileSync(path, whole + half);
    const spool = spoolAt(path);

    const first = await spool.read(0);
    expect(first.rows.map((r) => r.id)).toEqual(['a']);
    expect(first.next).toBe(Buffer.byteLength(whole));
    expect(await spool.read(first.next)).toEqual({ rows: [], torn: 0, next: first.next });

    appendFileSync(path, `${JSON.stringify(row('b')).slice(15)}\n`);
    const second = await spool.read(first.next);
    expect(second.rows.map((r) => r.id)).toEqual(['b']);
  });

  it('consumes an unterminated tail as torn on a final read', async () => {
    const path = fileIn();
    writeFileSync(path, '{"id":"torn"');
    const final = await spoolAt(path).read(0, { final: true });
    expect(final).toEqual({ rows: [], torn: 1, next: 12 });
  });

  it('reads a line longer than one read chunk whole', async () => {
    const spool = spoolAt(fileIn());
    const long = { ...row('long'), note: 'x'.repeat(3 * 1024 * 1024) };
    await spool.append([row('a'), long, row('b')]);
    const { rows } = await spool.readAll();
    expect(rows.map((r) => r.id)).toEqual(['a', 'long', 'b']);
    expect(rows[1]?.note).toHaveLength(3 * 1024 * 1024);
    await spool.close();
  });

  it('counts its lines without parsing them, a torn tail included', async () => {
    const path = fileIn();
    const spool = spoolAt(path);
    await spool.append([row('a'), row('b')]);
    await spool.append([row('c')]);
    appendFileSync(path, '{"id":"to');
    expect(await spool.countLines()).toBe(4);
    await spool.close();
  });

  it('empties on clear and keeps appending from the start', async () => {
    const path = fileIn();
    const spool = spoolAt(path);
    await spool.append([row('a'), row('b')]);
    await spool.clear();
    expect(readFileSync(path, 'utf8')).toBe('');
    await spool.append([row('c')]);
    expect((await spool.readAll()).rows.map((r) => r.id)).toEqual(['c']);
    await spool.close();
  });

  it('opens the file again for an append after close', async () => {
    const spool = spoolAt(fileIn());
    await spool.append([row('a')]);
    await spool.close();
    await spool.append([row('b')]);
    expect((await spool.readAll()).rows.map((r) => r.id)).toEqual(['a', 'b']);
    await spool.close();
  });

  it('fails the append when the file cannot be written', async () => {
    const blocker = fileIn();
    writeFileSync(blocker, '');
    // the spool's folder would have to be inside a file
    const spool = spoolAt(join(blocker, 'sub', 'usage-spool.ndjson'));
    await expect(spool.append([row('a')])).rejects.toThrow();
  });
});
