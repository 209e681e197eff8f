#!/usr/bin/env bash
# A consortium network with one network namespace per organisation: each org's
# "machine" has its own network stack and address (10.77.0.<i>), joined by a
# bridge, and runs only its own bundle (its folder from `network init --host`,
# CA keys removed) with the exact commands of its systemd units.
#
# Then, as operators on separate machines would:
#   1. notarise a file through org3's peer and verify the receipt offline;
#   2. cut org2's link: the other three keep finalising; restore it: org2 catches up;
#   3. power off org4's machine (kill -9 everything in its namespace): three of four still finalise;
#   4. remove org4 by governance, following docs/deployment.md ("Removing an
#      organisation", several machines): configs rewritten, proposal and votes,
#      new files installed and servers reloaded on each machine, then
#      `remove-org --forget-only`; the three remaining peers finalise with three signers;
#   5. rotate org1's NATS TLS CA the same way: its old peer certificate is refused.
#
# Needs root (namespaces, veth, bridge), nats-server and govchain (scripts/setup.sh).
# Everything it creates is removed on exit. Usage: sudo scripts/netns-network.sh [WORKDIR]
set -euo pipefail

ORGS=4
WORK=${1:-/tmp/govchain-netns}
BRIDGE=gcbr0
NET=10.77.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GOVCHAIN=${GOVCHAIN:-$ROOT/.venv/bin/govchain}
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)

[ "$(id -u)" = 0 ] || { echo "run as root: it creates network namespaces" >&2; exit 1; }
[ -x "$GOVCHAIN" ] || { echo "govchain not found at $GOVCHAIN (run scripts/setup.sh)" >&2; exit 1; }
[ -x "$NATS" ] || { echo "nats-server is missing: sudo apt-get install nats-server" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }

cleanup() {
  for i in $(seq 1 $ORGS); do
    ip netns pids "gc-org$i" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "gc-org$i" 2>/dev/null || true
    # a namespace is freed (and its veth pair with it) only once its last process is gone
    ip link del "gcv$i" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}
trap '[ "${KEEP:-0}" = 1 ] || cleanup' EXIT
cleanup

step "one namespace per organisation, on bridge $BRIDGE ($NET.0/24)"
ip link add "$BRIDGE" type bridge
ip addr add "$NET.254/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
for i in $(seq 1 $ORGS); do
  ip netns add "gc-org$i"
  ip link add "gcv$i" type veth peer name "gcv${i}p"
  ip link set "gcv${i}p" netns "gc-org$i"
  ip link set "gcv$i" master "$BRIDGE" up
  ip netns exec "gc-org$i" ip addr add "$NET.$i/24" dev "gcv${i}p"
  ip netns exec "gc-org$i" ip link set "gcv${i}p" up
  ip netns exec "gc-org$i" ip link set lo up
  ip netns exec "gc-org$i" ip route add default via "$NET.254"
done

step "network init with one host per org; each org's folder is its machine's bundle"
rm -rf "$WORK" && mkdir -p "$WORK/hosts" "$WORK/logs"
hosts=()
for i in $(seq 1 $ORGS); do hosts+=(--host "org$i=$NET.$i"); done
"$GOVCHAIN" network init --orgs $ORGS --out "$WORK/net" "${hosts[@]}" \
  --install-dir "$WORK/hosts" --govchain-bin "$GOVCHAIN"

unit_line() { sed -n "s/^$2=//p" "$1"; }  # a unit file's ExecStart / WorkingDirectory

start_org() {  # run org $1's two units' commands inside its namespace, as systemd would
  local org=$1 i=${1#org}
  for unit in nats peer; do
    local file="$WORK/hosts/$org/systemd/govchain-$unit-$org.service"
    local dir cmd
    dir=$(unit_line "$file" WorkingDirectory)
    cmd=$(unit_line "$file" ExecStart)
    cmd=${cmd/\/usr\/sbin\/nats-server/$NATS}
    (cd "$dir" && exec ip netns exec "gc-org$i" setsid $cmd >>"$WORK/logs/$org-$unit.log" 2>&1 &)
    if [ "$unit" = nats ]; then sleep 0.5; fi
  done
}

wait_api() {  # wait until org $1's peer answers (from the host's namespace, over the bridge)
  local i=${1#org} deadline=$((SECONDS + 90))
  until curl -sf "http://$NET.$i:$((8770 + i))/v1/status" >/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "$1's peer did not come up; see $WORK/logs" >&2; exit 1; }
    sleep 0.5
  done
}

final_everywhere() {  # every listed org's peer final at one head that includes height $1
  local want=$1; shift
  local deadline=$((SECONDS + 90))
  while :; do
    local heads=()
    for org in "$@"; do
      local i=${org#org}
      heads+=("$(curl -sf "http://$NET.$i:$((8770 + i))/v1/status" | python3 -c \
        'import json,sys; s=json.load(sys.stdin); print(s["height"], s.get("final_height"))' || echo down)")
    done
    local first=${heads[0]}
    local same=1
    local head
    for head in "${heads[@]}"; do [ "$head" = "$first" ] || same=0; done
    local height=${first% *} final=${first#* }
    if [ $same = 1 ] && [ "$height" = "$final" ] && [ "$height" -ge "$want" ]; then
      echo "final at height $height on $*"
      return
    fi
    [ $SECONDS -lt $deadline ] || { echo "not final everywhere: ${heads[*]}" >&2; exit 1; }
    sleep 0.5
  done
}

member_key() {  # an operator member of org $1, issued and enrolled as in the README
  local i=${1#org}
  "$GOVCHAIN" member issue --consortium "$WORK/net" --org "$1" --role operator --name "$1 档案员" \
    --node "http://$NET.$i:$((8770 + i))" >&2
  ls -t "$WORK/net/$1/members/"*-key.json | head -1
}

notarise() {  # notarise file $2 through org $1's peer as member key $3; prints the block height
  local i=${1#org}
  "$GOVCHAIN" notarize "$2" --node "http://$NET.$i:$((8770 + i))" --key "$3" --out "$WORK" >&2
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["block"]["height"])' \
    "$WORK/$(basename "$2").receipt.json"
}

step "install each org's bundle on its machine (CA keys stay behind) and start its units"
for i in $(seq 1 $ORGS); do
  cp -r "$WORK/net/org$i" "$WORK/hosts/org$i"
  rm -f "$WORK/hosts/org$i/ca-key.json" "$WORK/hosts/org$i/tls/ca-key.pem"
  start_org "org$i"
done
for i in $(seq 1 $ORGS); do wait_api "org$i"; done
"$GOVCHAIN" network status "$WORK/net"

step "1. notarise through org3's peer; verify the receipt offline"
echo "netns run $(date -u +%FT%TZ)" >"$WORK/one.txt"
key3=$(member_key org3)
key1=$(member_key org1)
h=$(notarise org3 "$WORK/one.txt" "$key3")
"$GOVCHAIN" verify "$WORK/one.txt.receipt.json" "$WORK/one.txt"
final_everywhere "$h" org1 org2 org3 org4

step "2. cut org2's link; the other three finalise; restore it; org2 catches up"
ip link set gcv2 down
echo "while org2 is cut off" >"$WORK/two.txt"
h=$(notarise org1 "$WORK/two.txt" "$key1")
final_everywhere "$h" org1 org3 org4
ip link set gcv2 up
final_everywhere "$h" org1 org2 org3 org4

step "3. power off org4's machine; three of four finalise"
ip netns pids gc-org4 | xargs -r kill -9
echo "with org4 down" >"$WORK/three.txt"
h=$(notarise org1 "$WORK/three.txt" "$key1")
final_everywhere "$h" org1 org2 org3

step "4. remove org4 by governance, machine by machine (docs/deployment.md)"
"$GOVCHAIN" network remove-org "$WORK/net" --org org4
node1="http://$NET.1:8771"
"$GOVCHAIN" proposal create --action remove_org --args '{"id": "org4"}' --title "remove org4" \
  --org org1 --consortium "$WORK/net" --node "$node1" | tee "$WORK/proposal.txt"
id=$(grep -oE '[0-9a-f]{64}' "$WORK/proposal.txt" | head -1)
for i in 2 3; do
  "$GOVCHAIN" proposal vote "$id" --org "org$i" --consortium "$WORK/net" --node "http://$NET.$i:$((8770 + i))" |
    tail -3
done
for i in 1 2 3; do  # each remaining org installs its new files and reloads its server
  for f in nats.conf peer.json tls/cluster-cas.pem; do cp "$WORK/net/org$i/$f" "$WORK/hosts/org$i/$f"; done
  cp "$WORK/net/org$i/tls/system"*.pem "$WORK/hosts/org$i/tls/" 2>/dev/null || true
  ip netns pids "gc-org$i" | while read -r pid; do
    if grep -q nats-server "/proc/$pid/cmdline" 2>/dev/null; then kill -HUP "$pid"; fi
  done
done
"$GOVCHAIN" network remove-org "$WORK/net" --org org4 --forget-only
echo "after org4 left" >"$WORK/four.txt"
h=$(notarise org3 "$WORK/four.txt" "$key3")
final_everywhere "$h" org1 org2 org3
"$GOVCHAIN" verify "$WORK/four.txt.receipt.json" "$WORK/four.txt"

step "5. rotate org1's NATS TLS CA, machine by machine (docs/deployment.md)"
cp -r "$WORK/hosts/org1/tls" "$WORK/org1-old-tls"
"$GOVCHAIN" network rotate-tls "$WORK/net" --org org1
install_bundles() {
  for i in 1 2 3; do
    cp "$WORK/net/org$i/tls/cluster-cas.pem" "$WORK/hosts/org$i/tls/cluster-cas.pem"
    ip netns pids "gc-org$i" | while read -r pid; do
      if grep -q nats-server "/proc/$pid/cmdline" 2>/dev/null; then kill -HUP "$pid"; fi
    done
  done
}
install_bundles  # every server trusts org1's old and new CA
for f in "$WORK/net/org1/tls/"*.pem; do  # org1's new certificates and keys; its CA key stays behind
  case $(basename "$f") in ca-key.pem | ca-previous.pem) ;; *) cp "$f" "$WORK/hosts/org1/tls/" ;; esac
done
ip netns pids gc-org1 | xargs -r kill -TERM
while [ -n "$(ip netns pids gc-org1)" ]; do sleep 0.2; done
start_org org1
wait_api org1
"$GOVCHAIN" network rotate-tls "$WORK/net" --org org1 --finish
install_bundles  # org1's old CA is trusted nowhere
echo "after org1's new TLS CA" >"$WORK/five.txt"
h=$(notarise org1 "$WORK/five.txt" "$key1")
final_everywhere "$h" org1 org2 org3
if ip netns exec gc-org1 "$ROOT/.venv/bin/python" - "$WORK/org1-old-tls" "$NET.2" <<'PY'; then
import asyncio, sys
from pathlib import Path
import nats
from govchain.node.nats_tls import client_context, inbox_prefix
old = Path(sys.argv[1])
context = client_context(old.parent, f"{old.name}/cluster-cas.pem", f"{old.name}/peer.pem", f"{old.name}/peer-key.pem")
async def main() -> None:
    await nats.connect(f"tls://{sys.argv[2]}:14222", tls=context, inbox_prefix=inbox_prefix("org1"),
                       allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0)
asyncio.run(main())
PY
  echo "org1's old peer certificate still opens org2's server" >&2
  exit 1
fi
echo "org1's old peer certificate is refused by org2's server"
"$GOVCHAIN" network status "$WORK/net" --cluster
"$GOVCHAIN" network status "$WORK/net" --cluster --json | python3 -c '
import json, sys
cluster = json.load(sys.stdin)["cluster"]
assert len(cluster["leaders"]) == 1 and len(cluster["servers"]) == 3, cluster
assert all(len(s["replicas"]) == 3 for s in cluster["streams"]), cluster
print("one meta leader, three servers, three replicas per stream")'
step "done: every step passed"
