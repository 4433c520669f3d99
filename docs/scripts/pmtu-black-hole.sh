#!/usr/bin/env bash
# Path MTU discovery over real sockets: `weir perf` across two network namespaces joined by a
# veth pair (MTU 1500), where a `tbf` qdisc on both ends drops every IP packet longer than
# LIMIT bytes (a black hole for larger datagrams, no ICMP), from the start (SECONDS 0) or from
# SECONDS into the 8 s transfer. Prints the client's report ("datagram size (path MTU)" row)
# and what the qdisc dropped.
# usage (as root): docs/scripts/pmtu-black-hole.sh WEIR_BIN LIMIT [SECONDS] [extra client args...]
# e.g. docs/scripts/pmtu-black-hole.sh target/release/weir 1300 3
set -euo pipefail
bin="$1"; limit="$2"; at="${3:-0}"; shift $(( $# < 3 ? $# : 3 ))
cleanup() { ip netns del wa 2>/dev/null || true; ip netns del wb 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add wa; ip netns add wb
ip link add va netns wa type veth peer name vb netns wb
ip -n wa addr add 10.9.0.1/24 dev va; ip -n wb addr add 10.9.0.2/24 dev vb
ip -n wa link set lo up; ip -n wb link set lo up
ip -n wa link set va up; ip -n wb link set vb up
# tbf drops every packet above its size (it segments GSO batches first, so each datagram is
# judged on its own): LIMIT bytes of IP packet plus 14 of Ethernet header, both directions.
drop() {
  for side in "wa va" "wb vb"; do
    set -- $side
    ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate 5gbit burst "$((limit + 14))" limit 4000000
  done
  echo "black hole above $limit-byte IP packets from now"
}
log="${TMPDIR:-/tmp}/pmtu-server.log"
ip netns exec wb "$bin" perf server --listen 10.9.0.2:4433 >"$log" 2>&1 &
server=$!
sleep 0.5
# The server's first line is the pin of the self-signed identity it made.
pin=$(sed -n 's/^pin: //p' "$log" | head -1)
if [ "$at" = 0 ]; then drop; else ( sleep "$at"; drop ) & fi
ip netns exec wa "$bin" perf client --connect 10.9.0.2:4433 --pin "$pin" --duration 8s "$@" || true
ip netns exec wa tc -s qdisc show dev va | head -3
ip netns exec wb grep "^Udp:" /proc/net/snmp
kill "$server" 2>/dev/null || true
