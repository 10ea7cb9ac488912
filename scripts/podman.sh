# shellcheck shell=bash
# Sourced by docker-base-image.sh and docker-smoke.sh: how this project runs podman on a machine with no
# Docker engine, no systemd and no registry (a root shell in a VM or CI runner; Debian's podman and runc):
#   containers.conf  no default ulimits to raise, cgroups managed directly (no systemd)
#   storage.conf     native overlayfs in a store of its own, kept between runs (the build's layer cache)
# To look at what the smoke built:  . scripts/podman.sh && "${podman[@]}" images
_tollgate_scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOLLGATE_DOCKER_CACHE="${TOLLGATE_DOCKER_CACHE:-/var/tmp/tollgate-docker}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$_tollgate_scripts/containers.conf}"
export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$_tollgate_scripts/storage.conf}"

# Debian's podman, runc and debootstrap; installed here when missing and this is a root shell with apt
if ! command -v podman >/dev/null || [ ! -x /usr/sbin/runc ] || ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing podman, runc and debootstrap (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap; } >/dev/null \
      || { echo "apt-get install podman runc debootstrap failed" >&2; exit 1; }
  else
    echo "needs podman, runc and debootstrap: apt-get install -y podman runc debootstrap (as root)" >&2
    exit 1
  fi
fi
# shellcheck disable=SC2034 # used by the scripts that source this file
podman=(podman --runtime /usr/sbin/runc)
