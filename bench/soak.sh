#!/usr/bin/env bash
# soak.sh - voxbench soak against a fresh voxd (pod A, measured, pinned to
# CPU 0, --shards 1), with a second voxd (pod B) that voxbench starts,
# fills, drains and stops every --drain-every; voxbench pinned to CPU 1
# (when taskset exists and there are >= 2 CPUs).
#
#   bench/soak.sh [voxbench soak flags...]
#
# e.g. the hour the issue asks for, on a quiet machine:
#   bench/soak.sh --duration 1h --interval 1m --out docs/perf/soak-1h
#
# Environment: OUT [bench/out] (binaries and the pods' logs), PORT_A [61800]
# (pod A's UDP port; admin +1), PORT_B [61810] (pod B's), VOXD_FLAGS (more
# flags for both pods).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out}
PORT_A=${PORT_A:-61800}
PORT_B=${PORT_B:-61810}
mkdir -p "$OUT"
go build -o "$OUT/voxd" ./cmd/voxd
go build -o "$OUT/voxbench" ./cmd/voxbench

pin() { :; }
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin() { printf 'taskset\n-c\n%s\n' "$1"; }
else
	echo "soak.sh: warning: no taskset or fewer than 2 CPUs: nothing is pinned" >&2
fi

common="--shards 1 --max-sessions 10000 --max-participants 20000 --cpu-high 100 --cpu-low 99 --log-level warn --log-format text ${VOXD_FLAGS:-}"
# shellcheck disable=SC2046,SC2086
$(pin 0) "$OUT/voxd" --udp-addr "127.0.0.1:$PORT_A" --admin-addr "127.0.0.1:$((PORT_A + 1))" $common 2>"$OUT/voxd-soak-a.log" &
voxd_pid=$!
trap 'kill -INT $voxd_pid 2>/dev/null; wait $voxd_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$((PORT_A + 1))/v1/status" >/dev/null 2>&1 && break
	sleep 0.1
done
# shellcheck disable=SC2046
$(pin 1) "$OUT/voxbench" soak --admin "127.0.0.1:$((PORT_A + 1))" --server-pid "$voxd_pid" \
	--pod-b "$OUT/voxd --udp-addr 127.0.0.1:$PORT_B --admin-addr 127.0.0.1:$((PORT_B + 1)) $common" \
	--admin-b "127.0.0.1:$((PORT_B + 1))" "$@"
