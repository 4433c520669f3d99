#!/usr/bin/env bash
# Real-kernel measurements of issue 15 on this machine (root, network namespaces, iptables):
#   1. two weir peers behind two Linux NATs (MASQUERADE) meet through `weir rendezvous` and
#      run `weir perf` peer to peer: punched through (default masquerade), then relayed
#      (`--random-fully` mappings on both NATs, which defeat punching);
#   2. a client behind a NAT that drops UDP reaches a public server over the TCP fallback:
#      time to connect, and a game flow's round trips over TCP against UDP on the same path.
# Usage: sudo tests/netns/paths.sh [path/to/weir]   (builds nothing; run `cargo build --release -p weir-cli` first)
# Not part of CI (it needs root and namespaces); the figures it prints are quoted as measured.
set -euo pipefail
WEIR="${1:-target/release/weir}"
WEIR="$(realpath "$WEIR")"
NS=(wr-inet wr-nat-a wr-peer-a wr-nat-b wr-peer-b)
cleanup() {
  for ns in "${NS[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup
for ns in "${NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Stops every process in a namespace (the servers `nsx ... &` started).
stop() { ip netns pids "$1" | xargs -r kill 2>/dev/null || true; sleep 0.3; }

# The internet: a bridge nsx wr-inet, the service at 198.51.100.1.
nsx wr-inet ip link add br0 type bridge
nsx wr-inet ip addr add 198.51.100.1/24 dev br0
nsx wr-inet ip link set br0 up
# A NAT: WAN on the bridge, LAN towards its peer.
nat() { # name, wan address, lan prefix
  local side=$1 wan=$2 lan=$3
  ip link add "wan-$side" netns "wr-nat-$side" type veth peer name "up-$side" netns wr-inet
  nsx wr-inet ip link set "up-$side" master br0 up
  nsx "wr-nat-$side" ip addr add "$wan/24" dev "wan-$side"
  nsx "wr-nat-$side" ip link set "wan-$side" up
  ip link add "lan-$side" netns "wr-nat-$side" type veth peer name eth0 netns "wr-peer-$side"
  nsx "wr-nat-$side" ip addr add "$lan.1/24" dev "lan-$side"
  nsx "wr-nat-$side" ip link set "lan-$side" up
  nsx "wr-peer-$side" ip addr add "$lan.2/24" dev eth0
  nsx "wr-peer-$side" ip link set eth0 up
  nsx "wr-peer-$side" ip route add default via "$lan.1"
  nsx "wr-nat-$side" sysctl -qw net.ipv4.ip_forward=1
}
nat a 198.51.100.2 10.1.0
nat b 198.51.100.3 10.2.0
masquerade() { # extra masquerade options for both NATs
  for side in a b; do
    nsx "wr-nat-$side" iptables -t nat -F
    nsx "wr-nat-$side" iptables -t nat -A POSTROUTING -o "wan-$side" -j MASQUERADE "$@"
    nsx "wr-nat-$side" conntrack -F 2>/dev/null || true
  done
}

SERVICE=198.51.100.1:3478
nsx wr-inet "$WEIR" rendezvous --listen "$SERVICE" --relay-rate 100mbit >/tmp/wr-rendezvous.log 2>&1 &
sleep 0.5

meet() { # label, session, extra masquerade options...
  local label=$1 session=$2; shift 2
  masquerade "$@"
  nsx wr-peer-b "$WEIR" perf server --listen 10.2.0.2:4433 --rendezvous "$SERVICE" --session "$session" \
    >/tmp/wr-server.log 2>&1 &
  sleep 1
  local pin; pin=$(awk '/^pin:/ {print $2}' /tmp/wr-server.log)
  echo "== $label"
  local start; start=$(date +%s.%N)
  nsx wr-peer-a "$WEIR" perf client --rendezvous "$SERVICE" --session "$session" --pin "$pin" \
    --bytes 20MB 2>&1 | grep -E 'met through|time  |throughput|packets lost' || true
  echo "wall time including the meeting: $(echo "$(date +%s.%N) - $start" | bc) s"
  grep 'met through' /tmp/wr-server.log || true
  stop wr-peer-b
}
meet "Linux MASQUERADE on both sides (port-preserving, endpoint-independent mapping)" \
  00000000000000000000000000000001
meet "MASQUERADE --random-fully on both sides (a new port per destination: symmetric)" \
  00000000000000000000000000000002 --random-fully

echo "== UDP blocked at NAT a: the TCP fallback to a public server"
masquerade
nsx wr-inet "$WEIR" perf server --listen 198.51.100.1:4433 >/tmp/wr-public.log 2>&1 &
sleep 1
pin=$(awk '/^pin:/ {print $2}' /tmp/wr-public.log)
game() { # label, extra client options...
  local label=$1; shift
  echo "-- $label"
  nsx wr-peer-a "$WEIR" perf client --connect 198.51.100.1:4433 --pin "$pin" --mode game \
    --duration 10s "$@" 2>&1 | grep -E 'round trip|messages sent|datagrams over TCP' || true
}
game "UDP, game flow (60 Hz)"
nsx wr-nat-a iptables -A FORWARD -p udp -j DROP
start=$(date +%s.%N)
nsx wr-peer-a "$WEIR" perf client --connect 198.51.100.1:4433 --pin "$pin" --bytes 1MB \
  --tcp-fallback 300ms 2>&1 | grep -E 'time  |datagrams over TCP' || true
echo "1 MB over the fallback (300 ms delay), wall time: $(echo "$(date +%s.%N) - $start" | bc) s"
game "TCP fallback, game flow (60 Hz)" --tcp-fallback 300ms
echo "-- the same with 2 % random loss at NAT a, both ways (iptables statistic)"
nsx wr-nat-a iptables -I FORWARD -m statistic --mode random --probability 0.02 -j DROP
game "TCP fallback, 2 % loss" --tcp-fallback 300ms
nsx wr-nat-a iptables -D FORWARD -p udp -j DROP
game "UDP, 2 % loss"
stop wr-inet
