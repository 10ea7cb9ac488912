#!/usr/bin/env bash
# Makes the Dockerfile's base image (docker.io/library/node:24-slim) locally, for a machine that has
# podman but cannot reach an image registry: a minimal Debian bookworm root file system (debootstrap,
# from Debian's packages), this machine's Node 24 binary and npm, the `node` user (uid 1000) the
# official image has, and this machine's CA bundle (so npm inside a build trusts what the host
# trusts, e.g. a TLS-inspecting egress proxy). Imported into podman under the name the Dockerfile's
# FROM uses, so `podman build --pull=never` takes it without pulling.
#
# The root file system tarball is cached in $TOLLGATE_DOCKER_CACHE (default /var/tmp/tollgate-docker),
# keyed by the Node and npm versions and the CA bundle: a second run only re-imports (or does nothing).
# Needs root, Node 24 on PATH, and Debian's podman, runc and debootstrap (installed by podman.sh when missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/podman.sh
. "$here/podman.sh"
IMAGE="${IMAGE:-docker.io/library/node:24-slim}"

node_bin="$(node -p 'process.execPath')"
node_version="$(node -p 'process.versions.node')"
case "$node_version" in 24.*) ;; *) echo "docker-base-image: needs Node 24 first on PATH (found $node_bin, v$node_version)" >&2; exit 1 ;; esac

# npm: the self-contained npm next to this machine's npm command, else the npm registry's tarball
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
if [ ! -f "$npm_dir/package.json" ] || [ ! -d "$npm_dir/node_modules" ]; then
  npm_dir=""
fi
npm_version="$( [ -n "$npm_dir" ] && node -p "require('$npm_dir/package.json').version" || echo 11)"

ca_bundle=/etc/ssl/certs/ca-certificates.crt
ca_hash="$( [ -f "$ca_bundle" ] && sha256sum "$ca_bundle" | cut -c1-12 || echo none)"
key="node-v$node_version-npm-$npm_version-bookworm-ca-$ca_hash"
tarball="$TOLLGATE_DOCKER_CACHE/$key.tar"

current="$("${podman[@]}" image inspect --format '{{index .Config.Labels "tollgate.base"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$key" ]; then
  echo "docker-base-image: $IMAGE is there ($key)"
  exit 0
fi

mkdir -p "$TOLLGATE_DOCKER_CACHE"
if [ ! -f "$tarball" ]; then
  rootfs="$TOLLGATE_DOCKER_CACHE/rootfs.$$"
  trap 'rm -rf "$rootfs" "$tarball.part"' EXIT
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  echo "docker-base-image: debootstrap bookworm (minbase) into $rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" \
    >"$TOLLGATE_DOCKER_CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$TOLLGATE_DOCKER_CACHE/debootstrap.log" >&2; echo "docker-base-image: debootstrap failed" >&2; exit 1; }

  install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  if [ -n "$npm_dir" ]; then
    cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  else
    (cd "$TOLLGATE_DOCKER_CACHE" && npm pack --silent npm@11 >/dev/null)
    mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
    tar -xzf "$TOLLGATE_DOCKER_CACHE"/npm-11.*.tgz --strip-components=1 -C "$rootfs/usr/local/lib/node_modules/npm"
    rm -f "$TOLLGATE_DOCKER_CACHE"/npm-11.*.tgz
  fi
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  [ -f "$ca_bundle" ] && install -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/host-ca-certificates.crt"

  # the official image's unprivileged user
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$rootfs" node -e 'process.exit(0)' || { echo "docker-base-image: node does not run in the root file system" >&2; exit 1; }

  # slim: no package caches, docs or man pages
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  # older cache entries (another Node, npm or CA bundle)
  find "$TOLLGATE_DOCKER_CACHE" -maxdepth 1 -name 'node-v*.tar' ! -name "$key.tar" -delete
fi

changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$node_version"
  --change "LABEL tollgate.base=$key"
  --change 'CMD ["node"]'
)
[ -f "$ca_bundle" ] && changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-certificates.crt')
# what was built on an older base is no use as a cache any more: drop every image no container uses
"${podman[@]}" image prune -a -f >/dev/null 2>&1 || true
"${podman[@]}" import "${changes[@]}" "$tarball" "$IMAGE" >"$TOLLGATE_DOCKER_CACHE/import.log" 2>&1 \
  || { cat "$TOLLGATE_DOCKER_CACHE/import.log" >&2; echo "docker-base-image: podman import failed" >&2; exit 1; }
echo "docker-base-image: imported $IMAGE ($key)"
