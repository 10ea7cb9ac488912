#!/usr/bin/env bash
# The Docker image, checked without a Docker engine: builds the real Dockerfile with podman, runs the
# image (host network) against this machine's PostgreSQL and a mock upstream, and checks that
#   the container runs as a non-root user, /healthz answers and the image's HEALTHCHECK passes,
#   one chat completion is answered 200 with x-usage-cost-usd and reached the upstream with HF_TOKEN only,
#   its row is in /usage (same request id, same cost, totals.requests = 1),
#   SIGTERM (podman stop) ends the container with exit code 0.
# Exits non-zero with a message on any failure; removes its container, mock and database in any case.
#
# Needs root, Node 24 first on PATH, psql, and PostgreSQL on 127.0.0.1:5432 where user postgres may
# create databases (PGHOST, PGPORT, PGUSER to change). Debian's podman, runc and debootstrap are
# installed by podman.sh when missing; the base image node:24-slim is made locally by docker-base-image.sh.
# First run about 5-6 minutes (debootstrap, full build); later runs under a minute or two.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/podman.sh
. "$root/scripts/podman.sh"
started=$(date +%s)
tag="localhost/tollgate:smoke"
name="tollgate-smoke-$$"
db="tollgate_smoke_$$"
admin="smoke-admin-key-0123456789"
hf_token="hf_smoke_upstream_token"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
work="$(mktemp -d)"
mock_pid=""

say() { echo "docker-smoke: $*"; }
fail() {
  echo "docker-smoke: FAIL: $*" >&2
  if "${podman[@]}" container exists "$name" 2>/dev/null; then
    echo "--- container log (last 30 lines)" >&2
    "${podman[@]}" logs "$name" 2>&1 | tail -30 >&2 || true
  fi
  exit 1
}
cleanup() {
  "${podman[@]}" rm -f -v -t 0 "$name" >/dev/null 2>&1 || true
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; fi
  psql -q -X -d postgres -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

command -v psql >/dev/null || fail "needs psql (apt-get install -y postgresql-client)"
pg_isready -q 2>/dev/null || fail "no PostgreSQL on $PGHOST:$PGPORT"

# leftovers of a run that was killed before its cleanup (its pid is gone)
for c in $("${podman[@]}" ps -a --format '{{.Names}}' 2>/dev/null | grep '^tollgate-smoke-[0-9]*$' || true); do
  kill -0 "${c##*-}" 2>/dev/null || "${podman[@]}" rm -f -v -t 0 "$c" >/dev/null 2>&1 || true
done
for d in $(psql -X -At -d postgres -c "select datname from pg_database where datname ~ '^tollgate_smoke_[0-9]+$'"); do
  kill -0 "${d##*_}" 2>/dev/null || psql -q -X -d postgres -c "drop database if exists $d with (force)" >/dev/null 2>&1 || true
done

# 1. the image: the base image made locally, then the real Dockerfile (docker format keeps the HEALTHCHECK)
"$root/scripts/docker-base-image.sh"
say "building the image from $root/Dockerfile"
build_started=$(date +%s)
# host network: npm ci reaches the registry the way the host does
"${podman[@]}" build --pull=never --format docker --network host -t "$tag" "$root" >"$TOLLGATE_DOCKER_CACHE/last-build.log" 2>&1 \
  || { tail -40 "$TOLLGATE_DOCKER_CACHE/last-build.log" >&2; fail "podman build (whole log: $TOLLGATE_DOCKER_CACHE/last-build.log)"; }
say "built $tag in $(( $(date +%s) - build_started ))s"
user=$("${podman[@]}" image inspect --format '{{.Config.User}}' "$tag")
case "$user" in "" | root | 0 | 0:*) fail "the image's USER is '$user', not a non-root user" ;; esac
"${podman[@]}" run --rm --network none --no-healthcheck --entrypoint sh "$tag" -c \
  'test -f dist/server.mjs && test -f drizzle/meta/_journal.json && test ! -e node_modules/vitest && test ! -e node_modules/typescript && test ! -e src' \
  || fail "the image's /app is not dist/ + drizzle/ + production dependencies only"

# 2. a mock upstream answering like the HF router (the recorded gpt-oss reply); it notes the Authorization it got
fixture="$root/test/fixtures/nonstream/hf-groq-gpt-oss-120b.response.json"
cat >"$work/mock.mjs" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
const [fixture, authFile] = process.argv.slice(2);
const body = readFileSync(fixture);
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      writeFileSync(authFile, `${req.headers.authorization ?? ''}\n`, { flag: 'a' });
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_01kx3v9q7gfs2b8m4d6tzn0c5h' });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
JS
node "$work/mock.mjs" "$fixture" "$work/upstream-auth" >"$work/mock.port" &
mock_pid=$!
for _ in $(seq 1 50); do [ -s "$work/mock.port" ] && break; sleep 0.1; done
mock_port=$(cat "$work/mock.port")
[ -n "$mock_port" ] || fail "the mock upstream did not start"

# 3. the container, on a fresh database
psql -q -X -d postgres -c "create database $db" >/dev/null || fail "cannot create database $db on $PGHOST:$PGPORT as $PGUSER"
port=$(free_port)
run_started=$(date +%s)
# podman logs that it cannot add a systemd timer for the HEALTHCHECK (no systemd here): the check is run by hand below
"${podman[@]}" run -d --name "$name" --network host \
  -e PORT="$port" -e DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" -e ADMIN_API_KEY="$admin" \
  -e HF_TOKEN="$hf_token" -e UPSTREAM_BASE_URL="http://127.0.0.1:$mock_port/v1" "$tag" >/dev/null 2>"$work/run.err" \
  || { cat "$work/run.err" >&2; fail "podman run"; }
base="http://127.0.0.1:$port"

healthy=""
while [ "$(date +%s)" -lt $(( run_started + 60 )) ]; do
  if curl -fsS -o /dev/null "$base/healthz" 2>/dev/null; then healthy=1; break; fi
  [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$name")" = true ] || fail "the container stopped before /healthz answered"
  sleep 0.5
done
[ -n "$healthy" ] || fail "/healthz did not answer 200 within 60 s"
say "/healthz 200, $(( $(date +%s) - run_started ))s after podman run"
uid=$("${podman[@]}" exec "$name" id -u)
[ "$uid" != 0 ] || fail "the gateway runs as root"
"${podman[@]}" healthcheck run "$name" >/dev/null 2>&1 || fail "the image's HEALTHCHECK did not pass"

# 4. one metered request
status=$(curl -sS -D "$work/headers" -o "$work/reply" -w '%{http_code}' "$base/v1/chat/completions" \
  -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"model":"openai/gpt-oss-120b:groq","messages":[{"role":"user","content":"hi"}]}') || fail "the chat completion call failed"
[ "$status" = 200 ] || fail "the chat completion answered $status: $(head -c 500 "$work/reply")"
header() { awk -v h="$1:" 'tolower($1) == h { sub(/\r$/, "", $2); print $2 }' "$work/headers"; }
request_id=$(header x-request-id)
cost=$(header x-usage-cost-usd)
[ -n "$request_id" ] || fail "no x-request-id header on the reply"
[ -n "$cost" ] || fail "no x-usage-cost-usd header on the reply"
[ "$(cat "$work/upstream-auth")" = "Bearer $hf_token" ] || fail "the upstream got Authorization '$(cat "$work/upstream-auth")', not the gateway's HF_TOKEN"

curl -fsS -o "$work/usage" "$base/usage" -H "authorization: Bearer $admin" || fail "GET /usage"
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const u = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const [id, cost] = process.argv.slice(2);
  const row = u.data?.[0];
  const problems = [];
  if (u.totals?.requests !== 1) problems.push(`totals.requests is ${u.totals?.requests}, not 1`);
  if (row?.request_id !== id) problems.push(`data[0].request_id is ${row?.request_id}, not the x-request-id ${id}`);
  if (row?.prompt_tokens !== 81 || row?.completion_tokens !== 76) problems.push(`tokens ${row?.prompt_tokens}/${row?.completion_tokens}, not 81/76`);
  // 81 × 0.000001 + 76 × 0.000003 at the default prices
  if (Number(row?.cost_total) !== 0.000309 || Number(cost) !== 0.000309) problems.push(`cost ${row?.cost_total} (row) / ${cost} (header), not 0.000309`);
  if (problems.length) { console.error(problems.join("\n")); console.error(JSON.stringify(u).slice(0, 1000)); process.exit(1); }
' "$work/usage" "$request_id" "$cost" || fail "the request's row in /usage is not right"
say "request $request_id answered 200, metered at \$$cost, in /usage"

# 5. SIGTERM: drain, flush, exit 0
"${podman[@]}" stop -t 40 "$name" >/dev/null 2>"$work/stop.err" || { cat "$work/stop.err" >&2; fail "podman stop"; }
code=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "exit code $code after SIGTERM, not 0"

say "OK: image built and non-root, healthy, request metered and in /usage, SIGTERM → exit 0 ($(( $(date +%s) - started ))s)"
