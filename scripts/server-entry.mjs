// dist/server.mjs: the Node version check, then the gateway bundle. The bundle is loaded by a dynamic
// import so that none of its code (bundled undici crashes on Node 20) runs before the check has passed:
// static imports would all be evaluated first.
import { requireSupportedNode } from './check-node.mjs';
import { restartForPglite } from './wasm-tier.mjs';

requireSupportedNode();
restartForPglite();
await import('./gateway.mjs');
