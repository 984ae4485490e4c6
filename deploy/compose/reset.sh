#!/usr/bin/env bash
# Remove the node homes that init.sh wrote (genesis, keys, configs), so that init.sh can run
# again. Run `docker-compose down -v` first: it stops the containers and removes their data
# volumes.
#
#   deploy/compose/reset.sh [--dir DIR] [--image IMAGE]
#
# The homes belong to the image's user (uid 10001) and its keys are mode 0600, so an ordinary
# user cannot delete them: the removal runs in a container of the image, as root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${SETTLENET_HOMES:-$here/homes}
image=${SETTLENET_IMAGE:-settlenet:local}

die() {
  echo "reset: error: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir=$2; shift 2 ;;
    --image) [ $# -ge 2 ] || die "--image needs an image"; image=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [ ! -e "$dir" ]; then
  echo "reset: $dir does not exist: nothing to remove"
  exit 0
fi
dir=$(cd "$dir" && pwd)
if [ "$(id -u)" = 0 ]; then
  rm -rf "$dir"
else
  docker image inspect "$image" >/dev/null 2>&1 \
    || die "no image $image to remove $dir with; as root: rm -rf $dir"
  docker run --rm --network none --user 0:0 -v "$dir:/homes" --entrypoint find "$image" \
    /homes -mindepth 1 -delete
  rmdir "$dir"
fi
echo "reset: removed $dir"
