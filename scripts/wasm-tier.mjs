// --liftoff-only only where PGlite runs. V8's optimizing WebAssembly tier, recompiling PostgreSQL's hot
// functions, held hundreds of MB (the embedded gateway's peak RSS 775 → 290 MB with the flag); on
// PostgreSQL the only WebAssembly is undici's HTTP parser, and there the optimized tier costs 20–30%
// less CPU per request. A V8 flag has to be given at start (set from code it changes nothing), so an
// embedded start replaces its process with itself plus the flag (process.execve: same pid, and nothing
// runs twice, since no WebAssembly has been compiled yet).
import { readFileSync } from 'node:fs';
// Node's own .env parser: this file runs before the bundle, where dotenv (CommonJS) cannot be required
import { parseEnv } from 'node:util';

/**
 * Whether this start must restart itself with --liftoff-only: the database is PGlite (DATABASE_URL
 * unset or blank, read as the config reads it: the environment over `.env`) and the flag is not given.
 */
export function needsLiftoffOnly({
  env = process.env,
  execArgv = process.execArgv,
  dotenvText = readDotenv(),
} = {}) {
  if (execArgv.includes('--liftoff-only') || execArgv.includes('--no-liftoff-only')) return false;
  const url = env.DATABASE_URL ?? parseEnv(dotenvText).DATABASE_URL ?? '';
  return url.trim() === '';
}

function readDotenv() {
  try {
    return readFileSync('.env', 'utf8');
  } catch {
    return '';
  }
}

/** Replaces this process with the same command plus --liftoff-only when needsLiftoffOnly() says so. */
export function restartForPglite() {
  if (!needsLiftoffOnly() || typeof process.execve !== 'function') return;
  process.execve(
    process.execPath,
    [process.execPath, ...process.execArgv, '--liftoff-only', ...process.argv.slice(1)],
    process.env,
  );
}
