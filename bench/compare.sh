#!/usr/bin/env bash
# compare.sh - vox's UDP forwarder side by side with udpbase's C reference
# forwarder (and optionally udpbase's naive Go forwarder), in one run, with
# udpbase's methodology. Loopback (127.0.0.1) only; every process is time
# bounded. Needs about 1 + 8 trials per capacity search, (--secs + ~1.5) s
# each: the defaults (c,vox x fanout 1,3 x 3 reps x 5 s) take ~20 minutes.
#
#   bench/compare.sh [netcompare flags]        build everything, then measure
#   bench/compare.sh report --json F [--markdown M]   re-render from a JSON file
#
# Builds into $OUT (default bench/out/, git-ignored):
#   fwd, gen       udpbase C tools (cc)
#   gofwd, gogen   udpbase Go tools (only if --impls has go/gosrtp, or *srtp)
#   netfwd         vox forwarder from ./bench/cmd/netfwd (if --impls has
#                  vox/voxsrtp and no --vox-bin is given)
#   netcompare     the orchestrator (./bench/cmd/netcompare)
# then runs
#   netcompare run --bin $OUT --json $OUT/compare-DATE.json \
#       --markdown $OUT/compare-DATE.md "$@"
# (later flags win, so --json/--markdown on the command line override those).
#
# Main flags (see `bench/compare.sh -h`): --impls c,vox (also go, voxsrtp,
# gosrtp) --fanouts 1,3 --modes pinned[,unpinned] --secs 5 --reps 3
# --steps 4 --size 120 --profile aes_cm_80 --common-rate PPS
# --phases max,latency,cost --vox-bin PATH.
#
# Environment: OUT (work dir), UDPBASE (default ../shared/tools/udpbase beside the repository,
# only read), CC (default cc).
#
# Examples:
#   bench/compare.sh                                   # c vs vox, the full table
#   bench/compare.sh --impls c,go --fanouts 3 --reps 1 --secs 2   # quick, gofwd only
#   bench/compare.sh --impls c,vox,voxsrtp,gosrtp --profile gcm
set -euo pipefail

die() {
	echo "compare.sh: error: $*" >&2
	exit 1
}
warn() { echo "compare.sh: warning: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
UDPBASE=${UDPBASE:-$(cd "$repo/.." && pwd)/shared/tools/udpbase}
CC=${CC:-cc}
OUT=${OUT:-$here/out}

command -v go >/dev/null || die "go not found in PATH"
mkdir -p "$OUT" || die "cannot create work dir $OUT"
OUT=$(cd "$OUT" && pwd)

build_netcompare() {
	(cd "$repo" && go build -o "$OUT/netcompare" ./bench/cmd/netcompare) ||
		die "building bench/cmd/netcompare failed"
}

# `report` and help need no measurement tools.
case "${1:-}" in
report)
	build_netcompare
	exec "$OUT/netcompare" "$@"
	;;
-h | -help | --help)
	build_netcompare
	exec "$OUT/netcompare" run -h
	;;
esac

# Which tools does this run need? Look at --impls and --vox-bin.
impls=c,vox
voxbin=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	a=${args[i]}
	case "$a" in
	--impls | -impls) impls=${args[i + 1]:-} ;;
	--impls=* | -impls=*) impls=${a#*=} ;;
	--vox-bin | -vox-bin) voxbin=${args[i + 1]:-} ;;
	--vox-bin=* | -vox-bin=*) voxbin=${a#*=} ;;
	esac
done
has() { [[ ",$impls," == *",$1,"* ]]; }

command -v "$CC" >/dev/null || die "C compiler '$CC' not found (set CC=...)"
[ -r "$UDPBASE/fwd.c" ] && [ -r "$UDPBASE/gen.c" ] && [ -r "$UDPBASE/common.h" ] ||
	die "udpbase sources not found in $UDPBASE (set UDPBASE=...)"
if ! command -v taskset >/dev/null; then
	warn "taskset not found (util-linux): pinned groups will run unpinned"
fi

echo "compare.sh: building into $OUT" >&2
"$CC" -O2 -Wall -pthread -o "$OUT/fwd" "$UDPBASE/fwd.c" || die "building udpbase fwd.c failed"
"$CC" -O2 -Wall -o "$OUT/gen" "$UDPBASE/gen.c" || die "building udpbase gen.c failed"
if has go || has gosrtp; then
	(cd "$UDPBASE/gofwd" && GOFLAGS=-buildvcs=false go build -o "$OUT/gofwd" .) ||
		die "building udpbase gofwd failed"
fi
if has gosrtp || has voxsrtp; then
	(cd "$UDPBASE/gofwd" && GOFLAGS=-buildvcs=false go build -o "$OUT/gogen" ./cmd/gogen) ||
		die "building udpbase gogen failed"
fi
vox_source=
if (has vox || has voxsrtp) && [ -z "$voxbin" ]; then
	[ -d "$repo/bench/cmd/netfwd" ] ||
		die "bench/cmd/netfwd does not exist (yet): measure without vox (--impls c,go) or pass --vox-bin PATH"
	(cd "$repo" && go build -o "$OUT/netfwd" ./bench/cmd/netfwd) || die "building bench/cmd/netfwd failed"
	rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "no-commit")
	if [ -n "$(git -C "$repo" status --porcelain -- bench/cmd/netfwd 2>/dev/null)" ]; then
		rev="$rev+uncommitted bench/cmd/netfwd"
	fi
	vox_source="github.com/voxfleet/vox@$rev"
fi
build_netcompare

stamp=$(date +%Y%m%d-%H%M%S)
cmdline="bench/compare.sh"
for a in "$@"; do # quote only what needs it, so the recorded command stays readable
	if [[ $a =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then cmdline+=" $a"; else cmdline+=" $(printf '%q' "$a")"; fi
done
export NETCOMPARE_CMDLINE="$cmdline"
export VOX_SOURCE="$vox_source"
cd "$repo"
exec "$OUT/netcompare" run --bin "$OUT" \
	--json "$OUT/compare-$stamp.json" --markdown "$OUT/compare-$stamp.md" "$@"
