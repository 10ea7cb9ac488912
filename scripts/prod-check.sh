#!/usr/bin/env bash
# The Docker image's production steps without a container: install production dependencies only,
# start from the built output on PGlite, check /healthz and /readyz, stop with SIGTERM (exit 0).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=""

[ -f "$root/dist/server.mjs" ] || { echo "prod-check: run npm run build first" >&2; exit 1; }
cp -r "$root/package.json" "$root/package-lock.json" "$root/dist" "$root/drizzle" "$work/"
(cd "$work" && npm ci --omit=dev --no-audit --no-fund --silent)

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
(cd "$work" && PORT=$port HOST=127.0.0.1 DATA_DIR="$work/data" ADMIN_API_KEY=prod-check-admin-key-0123 \
  UPSTREAM_BASE_URL=http://127.0.0.1:9/v1 LOG_LEVEL=warn MALLOC_ARENA_MAX=2 node --max-semi-space-size=16 dist/server.mjs) &
pid=$!

ok=""
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$ok" ] || { echo "prod-check: the built gateway did not become ready" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
# on PGlite the entry restarted itself with --liftoff-only (scripts/wasm-tier.mjs); same pid
node_pid=$(pgrep -P "$pid" -x node || echo "$pid")
tr '\0' ' ' <"/proc/$node_pid/cmdline" | grep -q -- '--liftoff-only' ||
  { echo "prod-check: the embedded start runs without --liftoff-only" >&2; exit 1; }
kill -TERM "$pid"
code=0; wait "$pid" || code=$?
pid=""
[ "$code" -eq 0 ] || { echo "prod-check: exit code $code after SIGTERM" >&2; exit 1; }
echo "prod-check: production install, start from dist/, ready, SIGTERM → exit 0"
