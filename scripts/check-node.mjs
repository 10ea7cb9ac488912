// Refuses, in one clear line, to run under a Node older than package.json's engines (>= 22.12): on
// Node 20 the built server died inside bundled undici with "TypeError: Cannot read properties of
// undefined (reading 'bind')". Plain JavaScript importing only node: builtins, so it runs (first, from
// the npm scripts and at the top of dist/server.mjs) before anything that could crash.
import { pathToFileURL } from 'node:url';

export const MINIMUM_NODE = '22.12';

/** Why this Node version cannot run tollgate, or null when it can. */
export function nodeVersionProblem(version = process.versions.node) {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = MINIMUM_NODE.split('.').map(Number);
  const ok = major > needMajor || (major === needMajor && minor >= needMinor);
  return ok ? null : `tollgate needs Node >= ${MINIMUM_NODE} (this is v${version})`;
}

/** Prints the problem and exits 1; returns when this Node will do. */
export function requireSupportedNode() {
  const problem = nodeVersionProblem();
  if (problem === null) return;
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}

// `node scripts/check-node.mjs`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) requireSupportedNode();
