#!/usr/bin/env bash
# Build the SettleNet node image without an image registry: nothing is pulled.
#
#   deploy/docker/build-image.sh [--binary PATH] [--tag NAME:TAG]... [--rebuild-base] [--keep-debug]
#
# 1. Base: a Debian bookworm root file system made with `debootstrap --variant=minbase` (what
#    debian:bookworm-slim is made from) and imported as settlenet-base:bookworm. Made once:
#    later runs reuse the image (--rebuild-base makes it again). Needs root (debootstrap), and
#    installs debootstrap with apt-get if it is missing.
# 2. Binary: PATH given with --binary, or `cargo build --release --locked -p settlenet-cli` on
#    the host (CARGO_TARGET_DIR is honoured); its debug sections are stripped in the image, as
#    in the registry build (--keep-debug keeps them: ~450 MB instead of ~30 MB).
# 3. Image: the `runtime-prebuilt` target of deploy/docker/Dockerfile, the same runtime stage
#    the registry build uses, from a build context that holds only the binary. Tagged
#    settlenet:local and settlenet:<git short sha> unless --tag is given. The image a tag
#    pointed to before is removed when nothing else uses it, so rebuilding does not pile up
#    images; the settlenet:<sha> tags of earlier commits are kept (to roll back to) until you
#    `docker rmi` them.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), SETTLENET_BASE_IMAGE
# (default settlenet-base:bookworm).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
base_image=${SETTLENET_BASE_IMAGE:-settlenet-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
  echo "build-image: error: $*" >&2
  exit 1
}

say() {
  echo "build-image: $*" >&2
}

binary=""
tags=()
rebuild_base=0
keep_debug=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary)
      [ $# -ge 2 ] || die "--binary needs a path"
      binary=$2
      shift 2
      ;;
    --tag)
      [ $# -ge 2 ] || die "--tag needs NAME:TAG"
      tags+=("$2")
      shift 2
      ;;
    --rebuild-base)
      rebuild_base=1
      shift
      ;;
    --keep-debug)
      keep_debug=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      die "unknown argument '$1' (see --help)"
      ;;
  esac
done

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker daemon ('docker info' fails): is it running, and may this user use it?"

if [ ${#tags[@]} -eq 0 ]; then
  tags=(settlenet:local)
  if sha=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null); then
    if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
      sha="$sha-dirty"
    fi
    tags+=("settlenet:$sha")
  fi
fi

started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/settlenet-image.XXXXXX")
cleanup() {
  # The root file system holds device nodes and root-owned files: remove it as we made it.
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. the base image ----------------------------------------------------------------------
image_exists() {
  docker image inspect "$1" >/dev/null 2>&1
}

if [ "$rebuild_base" = 1 ] || ! image_exists "$base_image"; then
  base_started=$(date +%s)
  old_base=$(docker image inspect --format '{{.Id}}' "$base_image" 2>/dev/null || true)
  [ "$(id -u)" = 0 ] || die "$base_image does not exist yet and making it needs root (debootstrap): run this script once with sudo, or as root"
  if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get to install it"
    say "installing debootstrap with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 \
      || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; } \
      || die "cannot install debootstrap"
  fi
  rootfs="$work/rootfs"
  say "making $base_image: debootstrap --variant=minbase $suite from $mirror (a minute or two)"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (full log above; DEBIAN_MIRROR picks another mirror)"; }
  # Slim it the way debian:*-slim is (debuerreotype's slimify): no documentation but the
  # copyright files, no manuals or translations, now and for any package installed later; no
  # package lists or caches. The node needs glibc, libstdc++ and libgcc, which apt depends on.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
SLIM
  find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/linda/* \
    "$rootfs"/usr/share/lintian/overrides/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/man/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
  # Containers get their own hostname and resolver from Docker.
  : >"$rootfs/etc/hostname"
  rm -f "$rootfs/etc/resolv.conf"
  tar --numeric-owner -C "$rootfs" -c . \
    | docker import \
        --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --message "debootstrap --variant=minbase $suite ($mirror)" \
        - "$base_image" >/dev/null \
    || die "docker import of the base file system failed"
  rm -rf "$rootfs"
  # The base made before, unless images built on it still need it.
  if [ -n "$old_base" ] && docker rmi "$old_base" >/dev/null 2>&1; then
    say "removed the previous $base_image (${old_base:7:12})"
  fi
  say "made $base_image in $(( $(date +%s) - base_started )) s"
else
  say "reusing $base_image (--rebuild-base makes it again)"
fi

# ---- 2. the binary --------------------------------------------------------------------------
if [ -z "$binary" ]; then
  command -v cargo >/dev/null 2>&1 || die "no --binary given and no cargo to build one"
  say "building the release binary: cargo build --release --locked -p settlenet-cli"
  (cd "$repo" && cargo build --release --locked -p settlenet-cli >&2) || die "cargo build failed"
  binary="${CARGO_TARGET_DIR:-$repo/target}/release/settlenet"
fi
[ -f "$binary" ] || die "binary $binary does not exist"
[ -x "$binary" ] || die "binary $binary is not executable"

# ---- 3. the image ---------------------------------------------------------------------------
context="$work/context"
# The path the Dockerfile's runtime-prebuilt stage copies from.
bindir="$context/deploy/docker/prebuilt"
mkdir -p "$bindir"
# Without debug sections, as the Dockerfile's builder stage does: the release profile keeps
# line tables and RocksDB's C++ comes with full debug info (~450 MB in all, ~30 MB without).
# Symbols stay, so a backtrace still names its functions; the unstripped binary of the same
# build resolves lines (addr2line). --keep-debug copies it as it is.
if [ "$keep_debug" = 1 ]; then
  cp "$binary" "$bindir/settlenet"
else
  command -v strip >/dev/null 2>&1 || die "strip (binutils) is missing: install binutils, or pass --keep-debug"
  strip --strip-debug -o "$bindir/settlenet" "$binary" || die "strip $binary failed"
fi

old_id=$(docker image inspect --format '{{.Id}}' "${tags[0]}" 2>/dev/null || true)
tag_args=()
for t in "${tags[@]}"; do
  tag_args+=(-t "$t")
done
image_started=$(date +%s)
say "building ${tags[*]} (target runtime-prebuilt of deploy/docker/Dockerfile, base $base_image)"
docker build --quiet \
  -f "$here/Dockerfile" \
  --target runtime-prebuilt \
  --build-arg "BASE=$base_image" \
  "${tag_args[@]}" \
  "$context" >/dev/null \
  || die "docker build failed"
new_id=$(docker image inspect --format '{{.Id}}' "${tags[0]}")

# The binary links glibc and libstdc++ dynamically: prove the base has what it needs.
version=$(docker run --rm --network none "${tags[0]}" --version 2>&1) \
  || die "the image cannot run its binary: $version (check 'ldd $binary' against the base)"
version=${version%%$'\n'*}

if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  if [ "$(docker image inspect --format '{{len .RepoTags}}' "$old_id" 2>/dev/null || echo 1)" = 0 ]; then
    if docker rmi "$old_id" >/dev/null 2>&1; then
      say "removed the image ${tags[0]} pointed to before (${old_id:7:12})"
    else
      say "kept the image ${tags[0]} pointed to before (${old_id:7:12}): a container still uses it"
    fi
  fi
fi

say "built ${tags[*]} = ${new_id:7:12} ($version) in $(( $(date +%s) - image_started )) s; total $(( $(date +%s) - started )) s"
echo "${tags[0]}"
