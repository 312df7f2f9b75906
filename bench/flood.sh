#!/usr/bin/env bash
# flood.sh - voxbench flood against a fresh voxd: the server pinned to CPU 0
# (--shards 1), voxbench (the real sessions and the garbage generator)
# pinned to CPU 1, when taskset exists and there are >= 2 CPUs.
#
#   bench/flood.sh [voxbench flood flags...]
#
# e.g. bench/flood.sh --rate 20000 --reps 3 --json > flood.json
#
# Environment: OUT [bench/out] (binaries and voxd's log), VOXD_UDP_PORT
# [61600], VOXD_ADMIN_PORT [61601], VOXD_FLAGS (more voxd flags).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out}
VOXD_UDP_PORT=${VOXD_UDP_PORT:-61600}
VOXD_ADMIN_PORT=${VOXD_ADMIN_PORT:-61601}
mkdir -p "$OUT"
go build -o "$OUT/voxd" ./cmd/voxd
go build -o "$OUT/voxbench" ./cmd/voxbench

pin() { :; }
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin() { printf 'taskset\n-c\n%s\n' "$1"; }
else
	echo "flood.sh: warning: no taskset or fewer than 2 CPUs: nothing is pinned" >&2
fi

# shellcheck disable=SC2046,SC2086
$(pin 0) "$OUT/voxd" --shards 1 --udp-addr "127.0.0.1:$VOXD_UDP_PORT" --admin-addr "127.0.0.1:$VOXD_ADMIN_PORT" \
	--max-sessions 10000 --max-participants 20000 --cpu-high 100 --cpu-low 99 \
	--log-level warn --log-format text ${VOXD_FLAGS:-} 2>"$OUT/voxd-flood.log" &
voxd_pid=$!
trap 'kill -INT $voxd_pid 2>/dev/null; wait $voxd_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$VOXD_ADMIN_PORT/v1/status" >/dev/null 2>&1 && break
	sleep 0.1
done
# shellcheck disable=SC2046
$(pin 1) "$OUT/voxbench" flood --admin "127.0.0.1:$VOXD_ADMIN_PORT" --server-pid "$voxd_pid" "$@"
