// The usage spool: an fsync'd append-only file of JSON lines in DATA_DIR, where rows wait while the
// database is unreachable. Read back in order from a byte offset, so a replay can run while appends
// continue; a torn line (a crash mid-append) is detected and skipped, never fatal.
import { constants, mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';

const NEWLINE = 0x0a;
/** Bytes read per `read` call; grows when one line is longer. */
const READ_CHUNK_BYTES = 1 << 20;

export type SpoolRead<T> = {
  /** whole rows, in file order */
  rows: T[];
  /** lines that could not be read back (torn by a crash, or not a row) */
  torn: number;
  /** the byte offset after the last line consumed: where the next read starts */
  next: number;
};

export type Spool<T> = {
  readonly path: string;
  /** appends the rows as one write and fdatasyncs before resolving */
  append(rows: readonly T[]): Promise<void>;
  /**
   * Rows from byte offset `from` (about a megabyte of them). Only newline-terminated lines are
   * consumed: an append may be half written while a replay reads. With `final`, the caller holds off
   * appends, so an unterminated tail can only be a torn line from a crash: it is consumed as torn.
   */
  read(from: number, options?: { final?: boolean }): Promise<SpoolRead<T>>;
  /** every row in the file (tests and small spools) */
  readAll(): Promise<{ rows: T[]; torn: number }>;
  /** non-blank lines in the file: the spool depth at start, without parsing */
  countLines(): Promise<number>;
  /** the file's size in bytes (0 when absent) */
  size(): Promise<number>;
  /** empties the file once every row in it is committed */
  clear(): Promise<void>;
  /** closes the file; a later append opens it again */
  close(): Promise<void>;
};

export function createSpool<T>({
  path,
  revive = (row) => row as T,
}: {
  path: string;
  /** turns a parsed line back into a row (e.g. ISO strings → Date); throws when it is not one */
  revive?: (row: unknown) => T;
}): Spool<T> {
  let handle: FileHandle | undefined;

  async function appender(): Promise<FileHandle> {
    if (!handle) {
      mkdirSync(dirname(path), { recursive: true });
      let created = false;
      try {
        handle = await open(
          path,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL,
        );
        created = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        handle = await open(path, 'a');
      }
      // a new file is durable only once its directory entry is: fsync the folder once
      if (created) await syncDirectory(dirname(path));
    }
    return handle;
  }

  async function reader(): Promise<FileHandle | undefined> {
    try {
      return await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  function parse(text: string, into: SpoolRead<T>): void {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        into.rows.push(revive(JSON.parse(line)));
      } catch {
        into.torn += 1;
      }
    }
  }

  const spool: Spool<T> = {
    path,
    async append(rows) {
      if (rows.length === 0) return;
      const fh = await appender();
      // the leading newline fences off a torn line a crashed process may have left at the end
      const bytes = Buffer.from(`\n${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
      for (let written = 0; written < bytes.length; ) {
        const { bytesWritten } = await fh.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      await fh.datasync();
    },
    async read(from, { final = false } = {}) {
      const result: SpoolRead<T> = { rows: [], torn: 0, next: from };
      const fh = await reader();
      if (!fh) return result;
      try {
        for (let length = READ_CHUNK_BYTES; ; length *= 2) {
          const buffer = Buffer.alloc(length);
          const { bytesRead } = await fh.read(buffer, 0, length, from);
          if (bytesRead === 0) return result;
          const end = buffer.lastIndexOf(NEWLINE, bytesRead - 1);
          if (end >= 0) {
            parse(buffer.toString('utf8', 0, end), result);
            result.next = from + end + 1;
            return result;
          }
          if (bytesRead < length) {
            // no newline before the end of the file: an append in progress, or a torn tail
            if (final) {
              parse(buffer.toString('utf8', 0, bytesRead), result);
              result.next = from + bytesRead;
            }
            return result;
          }
        }
      } finally {
        await fh.close();
      }
    },
    async readAll() {
      const rows: T[] = [];
      let torn = 0;
      for (let from = 0; ; ) {
        const chunk = await spool.read(from, { final: true });
        if (chunk.next === from) return { rows, torn };
        rows.push(...chunk.rows);
        torn += chunk.torn;
        from = chunk.next;
      }
    },
    async countLines() {
      const fh = await reader();
      if (!fh) return 0;
      let lines = 0;
      try {
        let blank = true;
        const buffer = Buffer.alloc(READ_CHUNK_BYTES);
        for (let from = 0; ; ) {
          const { bytesRead } = await fh.read(buffer, 0, buffer.length, from);
          if (bytesRead === 0) break;
          for (let i = 0; i < bytesRead; i++) {
            const byte = buffer[i];
            if (byte === NEWLINE) {
              if (!blank) lines += 1;
              blank = true;
            } else if (byte !== 0x20 && byte !== 0x0d && byte !== 0x09) blank = false;
          }
          from += bytesRead;
        }
        return blank ? lines : lines + 1;
      } finally {
        await fh.close();
      }
    },
    async size() {
      const fh = await reader();
      if (!fh) return 0;
      try {
        return (await fh.stat()).size;
      } finally {
        await fh.close();
      }
    },
    async clear() {
      const fh = await appender();
      await fh.truncate(0);
      await fh.datasync();
    },
    async close() {
      const fh = handle;
      handle = undefined;
      await fh?.close();
    },
  };
  return spool;
}

async function syncDirectory(folder: string): Promise<void> {
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
