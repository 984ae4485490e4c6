#!/usr/bin/env bash
# The genesis ceremony for docker-compose.yml, on one machine: four members (operator-a, bank-a,
# bank-b, clearing-house) with one validator each, and an observer (an integrator's node).
#
#   deploy/compose/init.sh [--dir DIR] [--image IMAGE] [--currencies USD,EUR] [--chain-name NAME]
#
# The steps of docs/operations.md ("The genesis ceremony"), each member's in turn:
#   settlenet member init       each member's keys and public descriptor (member.json)
#   settlenet genesis assemble  genesis.json and peers.toml from the four descriptors
#   settlenet node init         each validator's home, pinned to the genesis hash
#   settlenet join              the observer's home; every validator admits its peer id
#                               ([p2p] observers in its config.toml)
# Every command runs inside the image (no network), as the invoking user; the node homes are
# then given to the image's user (uid 10001), readable by it alone (keys mode 0600).
#
# DIR (default deploy/compose/homes, or $SETTLENET_HOMES) must be absent or empty; reset.sh
# empties it. It gets:
#   genesis.json, peers.toml      the network's public files
#   members/<member>/             each member's directory: member.json, staff keys <role>.key
#                                 (issuer, acquirer; clearing for the clearing house), node0/
#   <node>/                       each node's home, bind-mounted read-only by docker-compose.yml
#   phone.key                     the consortium phone-alias key (copied into every validator)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${SETTLENET_HOMES:-$here/homes}
image=${SETTLENET_IMAGE:-settlenet:local}
currencies=USD,EUR
chain_name=settlenet
# The node user of the image (deploy/docker/Dockerfile).
node_uid=10001
node_gid=10001
# The members in genesis order (their ids): name, kind, BIC. Each runs one validator whose
# container has the member's name as hostname (docker-compose.yml).
members=(
  "operator-a operator OPRARWRWXXX"
  "bank-a bank BNKARWRWXXX"
  "bank-b bank BNKBRWRWXXX"
  "clearing-house clearing-house CLRHRWRWXXX"
)
observer=observer

die() {
  echo "init: error: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir=$2; shift 2 ;;
    --image) [ $# -ge 2 ] || die "--image needs an image"; image=$2; shift 2 ;;
    --currencies) [ $# -ge 2 ] || die "--currencies needs a list"; currencies=$2; shift 2 ;;
    --chain-name) [ $# -ge 2 ] || die "--chain-name needs a name"; chain_name=$2; shift 2 ;;
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
# A program of the image's base as root, DIR at /ceremony (to hand the homes to the node user).
as_root() {
  docker run --rm --network none --user 0:0 -v "$dir:/ceremony" -w /ceremony \
    --entrypoint "$1" "$image" "${@:2}"
}

# 1. Each member makes its keys and its public descriptor.
names=()
descriptors=()
for m in "${members[@]}"; do
  read -r name kind bic <<<"$m"
  settlenet member init --name "$name" --kind "$kind" --bic "$bic" --validators 1 \
    --p2p "/dns4/$name/tcp/26600" --dir "/ceremony/members/$name" >/dev/null \
    || die "member init $name failed"
  names+=("$name")
  descriptors+=("/ceremony/members/$name/member.json")
done

# 2. The coordinator assembles the genesis; 3. everyone would check its hash out of band.
settlenet genesis assemble --members "${descriptors[@]}" --currencies "$currencies" \
  --chain-name "$chain_name" --out /ceremony/genesis.json >/dev/null \
  || die "genesis assemble failed"
hash=$(settlenet genesis show /ceremony/genesis.json | sed -n 's/^genesis hash *//p')
[ -n "$hash" ] || die "genesis show printed no hash"

# The consortium's phone-alias key (32 random bytes as hex), shared by the validators.
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$dir/phone.key" && echo >>"$dir/phone.key")

# 4. Each member makes its validator's home: listening on every interface of its container,
# reached by the other containers at its name.
for name in "${names[@]}"; do
  settlenet node init --genesis /ceremony/genesis.json --peers /ceremony/peers.toml \
    --member-dir "/ceremony/members/$name" --validator 0 --home "/ceremony/$name" \
    --listen /ip4/0.0.0.0/tcp/26600 --advertise "/dns4/$name/tcp/26600" \
    --api-listen 0.0.0.0:26700 --phone-key /ceremony/phone.key >/dev/null \
    || die "node init $name failed"
done

# 5. The observer joins; each validator admits its peer id on its own authority.
joined=$(settlenet --json join --genesis /ceremony/genesis.json --peers /ceremony/peers.toml \
  --name "$observer" --home "/ceremony/$observer" --listen /ip4/0.0.0.0/tcp/26600 \
  --advertise "/dns4/$observer/tcp/26600" --api-listen 0.0.0.0:26700) \
  || die "join failed"
peer_id=$(printf '%s\n' "$joined" | sed -n 's/^ *"peer_id": *"\([^"]*\)".*/\1/p')
[ -n "$peer_id" ] || die "join printed no peer id"
for name in "${names[@]}"; do
  config="$dir/$name/config.toml"
  grep -q '^observers = \[\]$' "$config" || die "$config has no empty 'observers = []' to fill in"
  sed -i "s|^observers = \[\]$|observers = [\"$peer_id\"]|" "$config"
done

# The data volumes of docker-compose.yml are mounted at data/, inside the read-only homes.
homes=()
for name in "${names[@]}" "$observer"; do
  mkdir -p "$dir/$name/data"
  homes+=("/ceremony/$name")
done
# The nodes run as the image's user: their homes are theirs, readable by it alone.
as_root chown -R "$node_uid:$node_gid" "${homes[@]}"
as_root chmod -R u=rwX,go= "${homes[@]}"

echo "init: genesis $hash ($chain_name, ${currencies})"
echo "init: validators ${names[*]} and observer $observer (peer id $peer_id) in $dir"
echo "init: staff keys in $dir/members/<member>/<role>.key; next: docker-compose up -d"
