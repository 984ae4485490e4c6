#!/usr/bin/env bash
# Write the node homes for docker-compose.yml: a genesis and one home per validator
# (operator-a, bank-a, bank-b, clearing-house) in deploy/compose/homes/.
#
#   deploy/compose/init.sh [--dir DIR] [--image IMAGE] [--currencies USD,EUR] [--chain-id ID]
#
# INTERIM: until the genesis ceremony commands (`member init`, `genesis assemble`, `node init`)
# are in the binary, this runs `settlenet testnet init` and rewrites its loopback addresses to
# the containers' names. Every command runs inside the image, as the invoking user; the
# validators' homes are then given to the image's user (uid 10001), keys mode 0600.
#
# DIR (default deploy/compose/homes, or $SETTLENET_HOMES) must be absent or empty; reset.sh
# empties it. It gets:
#   genesis.json                  the genesis every node is pinned to
#   <node>/                       a node home, bind-mounted read-only by docker-compose.yml
#   members/<member>/keys/*.key   each member's staff keys (issuer, acquirer, clearing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${SETTLENET_HOMES:-$here/homes}
image=${SETTLENET_IMAGE:-settlenet:local}
currencies=USD,EUR
chain_id=settlenet
# The node user of the image (deploy/docker/Dockerfile).
node_uid=10001
node_gid=10001
# Validators in genesis order; node i of `testnet init` is validators[i].
validators=(operator-a bank-a bank-b clearing-house)

die() {
  echo "init: error: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir=$2; shift 2 ;;
    --image) [ $# -ge 2 ] || die "--image needs an image"; image=$2; shift 2 ;;
    --currencies) [ $# -ge 2 ] || die "--currencies needs a list"; currencies=$2; shift 2 ;;
    --chain-id) [ $# -ge 2 ] || die "--chain-id needs an id"; chain_id=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker daemon ('docker info' fails)"
docker image inspect "$image" >/dev/null 2>&1 \
  || die "no image $image: build it first with deploy/docker/build-image.sh"
if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
  die "$dir is not empty: the network was initialised already (deploy/compose/reset.sh removes it)"
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# `settlenet ARGS...` inside the image, as the invoking user, with DIR at /ceremony, no network.
settlenet() {
  docker run --rm --network none --user "$(id -u):$(id -g)" \
    -v "$dir:/ceremony" -w /ceremony "$image" "$@"
}
# A command of the image's base as root, DIR at /ceremony (to hand files to the node user).
as_root() {
  docker run --rm --network none --user 0:0 -v "$dir:/ceremony" -w /ceremony \
    --entrypoint "$1" "$image" "${@:2}"
}

settlenet testnet init --dir /ceremony/testnet --validators "${#validators[@]}" \
  --currencies "$currencies" --chain-id "$chain_id" >/dev/null
mv "$dir/testnet/genesis.json" "$dir/genesis.json"
mkdir -p "$dir/members"
for m in "${validators[@]}"; do
  mkdir -p "$dir/members/$m"
  mv "$dir/testnet/keys/$m" "$dir/members/$m/keys"
done

for i in "${!validators[@]}"; do
  name=${validators[$i]}
  home="$dir/$name"
  mv "$dir/testnet/node$i" "$home"
  # Listen on every interface of the container at the image's ports; reach the other
  # validators by their container names (node j of testnet init listened on 26600+j).
  args=(-e "s#^listen = \"/ip4/127.0.0.1/tcp/[0-9]*\"#listen = \"/ip4/0.0.0.0/tcp/26600\"#"
        -e "s#^listen = \"127.0.0.1:[0-9]*\"#listen = \"0.0.0.0:26700\"#")
  for j in "${!validators[@]}"; do
    args+=(-e "s#/ip4/127.0.0.1/tcp/$((26600 + j))/p2p/#/dns4/${validators[$j]}/tcp/26600/p2p/#")
  done
  sed -i "${args[@]}" "$home/config.toml"
  grep -q '127.0.0.1' "$home/config.toml" && die "$home/config.toml still names 127.0.0.1"
  # docker-compose.yml mounts the data volume here, inside the read-only home.
  mkdir -p "$home/data"
done
rm -rf "$dir/testnet"

# The nodes run as the image's user: their homes are theirs, keys readable by it alone.
homes=()
for name in "${validators[@]}"; do
  homes+=("/ceremony/$name")
done
as_root chown -R "$node_uid:$node_gid" "${homes[@]}"
as_root chmod -R u=rwX,go= "${homes[@]}"

echo "init: genesis and homes for ${validators[*]} in $dir"
echo "init: staff keys in $dir/members/<member>/keys/; next: docker-compose up -d"
