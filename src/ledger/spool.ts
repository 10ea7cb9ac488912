// The usage spool: an fsync'd append-only file of JSON lines in DATA_DIR, where rows wait while the
// database is unreachable. A torn last line (a crash mid-append) is detected and skipped on read.
import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';

export type Spool<T> = {
  /** appends the rows and fsyncs before resolving */
  append(rows: readonly T[]): Promise<void>;
  /** every whole row in order; `torn` counts lines that could not be read */
  readAll(): Promise<{ rows: T[]; torn: number }>;
  /** empties the file once its rows are committed */
  clear(): Promise<void>;
  close(): Promise<void>;
  readonly path: string;
};

export function createSpool<T>({
  path,
  revive = (row) => row as T,
}: {
  path: string;
  /** turns a parsed line back into a row (e.g. ISO strings → Date) */
  revive?: (row: unknown) => T;
}): Spool<T> {
  let handle: FileHandle | undefined;

  async function file(): Promise<FileHandle> {
    if (!handle) {
      mkdirSync(dirname(path), { recursive: true });
      handle = await open(path, 'a');
    }
    return handle;
  }

  return {
    path,
    async append(rows) {
      if (rows.length === 0) return;
      const fh = await file();
      // a leading newline fences off a torn line a crashed process may have left at the end
      await fh.write(`\n${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
      await fh.datasync();
    },
    async readAll() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], torn: 0 };
        throw err;
      }
      const rows: T[] = [];
      let torn = 0;
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        try {
          rows.push(revive(JSON.parse(line)));
        } catch {
          torn += 1;
        }
      }
      return { rows, torn };
    },
    async clear() {
      await truncate(path, 0).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await handle?.datasync();
    },
    async close() {
      await handle?.close();
      handle = undefined;
    },
  };
}
