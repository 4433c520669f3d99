#!/bin/bash
# A real bottleneck and a ping beside a weir bulk run (issue 12's evidence), as root:
#   docs/scripts/bottleneck-ping.sh WEIR RATE QUEUE [CONTROLLER]
# e.g. docs/scripts/bottleneck-ping.sh target/release/weir 20mbit 400ms bbr
# Two network namespaces joined by a veth pair; a tbf qdisc on the sender's side sets the rate
# and the queue (this kernel has no netem). Prints weir's throughput and the ping's p50/p99
# over the transfer. Needs ping (iputils-ping).
set -euo pipefail
WEIR=$(realpath "$1"); RATE=$2; QUEUE=$3; CC=${4:-bbr}
LOG=$(mktemp -d)
cleanup() { ip netns del wa 2>/dev/null || true; ip netns del wb 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add wa; ip netns add wb
ip link add va type veth peer name vb
ip link set va netns wa; ip link set vb netns wb
ip -n wa addr add 10.9.0.1/24 dev va; ip -n wb addr add 10.9.0.2/24 dev vb
for ns in wa wb; do ip -n $ns link set lo up; done
ip -n wa link set va up; ip -n wb link set vb up
ip netns exec wa tc qdisc add dev va root tbf rate "$RATE" burst 3000 latency "$QUEUE"
ip netns exec wb "$WEIR" perf server --listen 10.9.0.2:4433 --insecure > "$LOG/server" 2>&1 &
SERVER=$!
sleep 1
ip netns exec wa ping -i 0.05 -c 440 10.9.0.2 > "$LOG/ping" 2>&1 &
PING=$!
sleep 1
ip netns exec wa "$WEIR" perf client --connect 10.9.0.2:4433 --insecure --duration 20s \
    --cc "$CC" > "$LOG/client" 2>&1
wait $PING || true
kill $SERVER 2>/dev/null || true
grep -E "throughput" "$LOG/client" | head -1
python3 - "$LOG/ping" <<'PY'
import re, sys
rtts = [float(m.group(1)) for m in re.finditer(r"time=([\d.]+) ms", open(sys.argv[1]).read())]
rtts = sorted(rtts[20:420])  # the pings sent while the transfer ran
q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))]
print(f"ping: {len(rtts)} replies, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {rtts[-1]:.1f} ms")
PY
