#!/usr/bin/env bash
# record.sh - the performance record: one run that measures vox against the C
# reference forwarder of ../shared/tools/udpbase and measures voxd end to end
# with voxbench, saves every tool's JSON in one run directory, and renders
# docs/performance.md from it with bench/cmd/perfdoc (no number typed by hand).
#
#   bench/record.sh             full record, render into the run directory only
#   bench/record.sh --publish   full record, then write docs/performance.md and
#                               copy the raw files into docs/perf/<date>/
#   bench/record.sh --quick     a try of the whole pipeline (< 3 minutes);
#                               never publish a quick run
#   QUICK=1 bench/record.sh     the same as --quick
#
# Run directory: $OUT/record-YYYYmmdd-HHMMSS/ (OUT default bench/out/,
# git-ignored): machine.json (perfdoc facts), commands.txt (every command run,
# exactly), netcompare-aes_cm_80.json/.md, netcompare-gcm.json/.md,
# steady-<profile>-s4-r<N>.json, steady-<profile>-s8-r<N>.json,
# ramp-<profile>.json, voxd-<profile>.log, microbench.txt, and the rendered
# performance.md. A step that fails leaves its file missing or partial and the
# document says "not measured" for it; the run goes on.
#
# What runs (pinned = `taskset -c 0` for the server under test, `taskset -c 1`
# for the load, when taskset exists and there are >= 2 CPUs; otherwise nothing
# is pinned and machine.json says so):
#   1. netcompare (via bench/compare.sh), fan-out 3, 120-byte payloads, pinned:
#      c,vox,voxsrtp with --profile aes_cm_80, then c,voxsrtp with --profile gcm
#      (C is in each run, so every ratio is a same-run ratio). Per impl and
#      repetition: a capacity search (probe + ~8 trials), a latency trial at
#      50 % of its max, a CPU-cost trial at the common rate.
#   2. voxd (--shards 1, pinned to cpu 0) once per SRTP profile, driven by
#      voxbench steady (pinned to cpu 1) in sessions of 4 (all 4 talking) and
#      sessions of 8 with 3 talking (REPS times each), then voxbench ramp in
#      sessions of 4 for the highest load held with < 0.1 % loss and p99 < 5 ms.
#   3. go test -bench 'Forward$|ForwardRooms$' for sessionmgr (the
#      in-process forward path, one room and 400 rooms at once).
#   4. perfdoc render.
# Also, when the tools have them (issue 16):
#   1b. netcompare with a smooth generator (--gen-batch 1: one datagram per
#      paced send, like voxbench's clients) for c,voxsrtp, CPU cost only, at
#      the profile's common rate: netcompare-<profile>-smooth.json.
#   2b. receive coalescing on and off: sessions of 4 at COAL_LOADS, voxd
#      with its default --rx-coalesce and with --rx-coalesce 0, restarted
#      for each run, the two interleaved: coalesce-<profile>-s<N>-<on|off>-r<R>.json.
#   3b. mix mode (when libopus-dev is installed): sessionmgr's
#      BenchmarkMixModeFrame for rooms of 4 and 8 all talking, built with
#      -tags opus, each with a CPU profile: mixbench-m<4|8>.txt and
#      mixprof-m<4|8>.txt (go tool pprof -top -cum), for rooms per core
#      and the split between decode, mix, encode and crypto.
#   2c. mix mode end to end (when libopus-dev is installed): voxd built with
#      -tags opus, voxbench ramp --mix in rooms of 4 and of 8, all talking,
#      AEAD_AES_128_GCM: ramp-mix-m4.json, ramp-mix-m8.json (rooms per core
#      at < 0.1 % loss and mix lateness p99 < 5 ms).
#
# Duration of the full run (estimated from the trial counts; a trial takes
# --secs + ~1.5 s): netcompare aes_cm_80 = 3 impls x 3 reps x (~9 search
# + 2) trials x 6.5 s = ~11 min; gcm = 2 x 3 x 11 x 6.5 s = ~7 min;
# voxbench steady = 2 profiles x 3 layouts x 3 reps x ~16 s = ~5 min;
# ramp = 2 profiles x 2 (smooth, RAMP_SEND_TICK) x up to 12 steps x ~9 s =
# up to ~5 min (each stops at the first step missed); micro-benchmarks and builds ~1.5 min; smooth netcompare
# 2 x 3 reps x 2 x 6.5 s = ~1.5 min; coalescing 2 profiles x 3 loads x 2
# x 2 reps x ~10 s = ~4 min; mix benchmarks ~1 min; mix ramps 2 x up to 12 steps x ~8 s = up to ~3 min: ~40 minutes in all,
# bounded by the timeouts below (~55 minutes at worst). --quick: ~2-3 min.
#
# Environment (defaults, then --quick's, in brackets): OUT [bench/out],
# UDPBASE [../shared/tools/udpbase], REPS [3; 1], SECS [5; 1] and STEPS
# [4; 1] (netcompare's trial length and bisection steps), S4_SESSIONS
# [the profile's netcompare common rate / 200, at most S4_MAX (400);
# 20 when the rate is unknown or --quick] (sessions of 4, all talking, 50
# packets/s each: the C reference's CPU-cost rate, so the voxd/C ratio
# compares like loads), S4_MAX [400], SEND_TICK [200us: also sessions of 4
# with voxbench sending every 200 µs, burstier arrivals; empty: not],
# RAMP_SEND_TICK [200us: the ramp again with that send tick; empty: not],
# S8_SESSIONS [100; 10], S8_TALKERS
# [3], DURATION and WARMUP of a steady run [10s, 2s; 2s, 1s], RAMP_START
# [100; 20], RAMP_STEP [50; 20], RAMP_STEPS [12; 2], RAMP_DURATION [5s; 2s],
# NC_PORT_BASE [61000: netcompare's forwarder port; sinks +100, talkers
# +200..+263], VOXD_UDP_PORT [61500], VOXD_ADMIN_PORT [61501], PROFILES
# [aes_cm_80 gcm], MICROBENCH [1; 1] (0 skips the micro-benchmarks),
# SMOOTH [1; 1] (0 skips 1b), COAL_LOADS [100 250 400; 20] (sessions of 4;
# empty skips 2b), COAL_REPS [2; 1], COAL_DURATION [5s; 2s], MIX [1; 1]
# (0 skips 3b and 2c), MIX_FRAMES [1500x; 100x] (-benchtime of each mix
# run), MIX_RAMP4 and MIX_RAMP8 ["4 2 12" and "2 1 12"; "2 2 2" and "1 1 2"]
# (2c's first rooms, rooms added per step, most steps). The
# ports are above the ephemeral range (32768-60999 by default), so no other
# program's client socket can hold one of them.
#
# Loads: 200 sessions of 4 (800 talking, 40,000 packets/s in, 120,000 out)
# is about what voxbench drives from one core of the 2-core VM with every
# send on time (a try at 2.5x that load lost packets with the generator
# sending late); the ramp goes from 100 to 650 sessions to find where the
# objectives break and says whether the generator or the server broke them.
#
# Loopback only; every process started here is time-bounded (timeout, or
# netcompare's own --max-minutes) and stopped on exit (trap).
set -euo pipefail

die() {
	echo "record.sh: error: $*" >&2
	exit 1
}
say() { echo "record.sh: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
invocation="bench/record.sh${*:+ $*}"

quick=${QUICK:-0}
publish=0
for a in "$@"; do
	case "$a" in
	--quick | -quick) quick=1 ;;
	--publish | -publish) publish=1 ;;
	-h | -help | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $a (want --quick, --publish)" ;;
	esac
done
[ "$quick" = 0 ] || [ "$quick" = 1 ] || die "QUICK must be 0 or 1"
if [ "$quick" = 1 ] && [ "$publish" = 1 ]; then
	die "a --quick run is for trying the pipeline; it is never published"
fi

if [ "$quick" = 1 ]; then
	d_reps=1 d_secs=1 d_steps=1 d_s4=20 d_s8=10 d_ramp=20 d_rampstep=20 d_rampsteps=2 d_dur=2s d_warm=1s d_rampdur=2s d_mbcount=1 d_mbtime=2000x
	d_coal="20" d_coalreps=1 d_coaldur=2s d_mixframes=100x d_mixramp4="2 2 2" d_mixramp8="1 1 2"
else
	d_reps=3 d_secs=5 d_steps=4 d_s4=200 d_s8=100 d_ramp=100 d_rampstep=50 d_rampsteps=12 d_dur=10s d_warm=2s d_rampdur=5s d_mbcount=3 d_mbtime=20000x
	d_coal="100 250 400" d_coalreps=2 d_coaldur=5s d_mixframes=1500x d_mixramp4="4 2 12" d_mixramp8="2 1 12"
fi
REPS=${REPS:-$d_reps}
SECS=${SECS:-$d_secs}
STEPS=${STEPS:-$d_steps}
# S4_SESSIONS unset: each profile's sessions of 4 run at that profile's
# netcompare common rate (sessions = rate / 200), between 20 and S4_MAX.
S4_FIXED=${S4_SESSIONS:-}
S4_SESSIONS=${S4_SESSIONS:-$d_s4}
S4_MAX=${S4_MAX:-400}
# SEND_TICK: a third layout per repetition, sessions of 4 with voxbench
# sending what is due only every SEND_TICK (burstier arrivals; empty: none).
SEND_TICK=${SEND_TICK-200us}
# RAMP_SEND_TICK: the ramp again with voxbench sending every RAMP_SEND_TICK
# (ramp-<profile>-tick.json): the smooth sender's wake-ups cost the generator
# most of a core near 60 k packets/s, so the smooth ramp often ends with the
# generator, not the server, at its limit (empty: no second ramp).
RAMP_SEND_TICK=${RAMP_SEND_TICK-200us}
S8_SESSIONS=${S8_SESSIONS:-$d_s8}
S8_TALKERS=${S8_TALKERS:-3}
RAMP_START=${RAMP_START:-$d_ramp}
RAMP_STEP=${RAMP_STEP:-$d_rampstep}
RAMP_STEPS=${RAMP_STEPS:-$d_rampsteps}
DURATION=${DURATION:-$d_dur}
WARMUP=${WARMUP:-$d_warm}
RAMP_DURATION=${RAMP_DURATION:-$d_rampdur}
MICROBENCH=${MICROBENCH:-1}
SMOOTH=${SMOOTH:-1}
COAL_LOADS=${COAL_LOADS-$d_coal}
COAL_REPS=${COAL_REPS:-$d_coalreps}
COAL_DURATION=${COAL_DURATION:-$d_coaldur}
MIX=${MIX:-1}
MIX_FRAMES=${MIX_FRAMES:-$d_mixframes}
MIX_RAMP4=${MIX_RAMP4:-$d_mixramp4}
MIX_RAMP8=${MIX_RAMP8:-$d_mixramp8}
NC_PORT_BASE=${NC_PORT_BASE:-61000}
VOXD_UDP_PORT=${VOXD_UDP_PORT:-61500}
VOXD_ADMIN_PORT=${VOXD_ADMIN_PORT:-61501}
PROFILES=${PROFILES:-aes_cm_80 gcm}
OUT=${OUT:-$here/out}

command -v go >/dev/null || die "go not found in PATH"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)
run="$OUT/record-$stamp"
mkdir -p "$run"
cmds="$run/commands.txt"
: >"$cmds"
say "run directory $run"

pinned=0
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pinned=1
else
	say "warning: no taskset or fewer than 2 CPUs: nothing is pinned (recorded in machine.json)"
fi
pin() { # pin CPU: the taskset prefix, or nothing
	[ "$pinned" = 1 ] && printf 'taskset\n-c\n%s\n' "$1"
	return 0
}

# The processes running now that this script started, by PID, for the trap
# (emptied as they end, so that no PID is signalled after it may be reused).
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -INT "$p" 2>/dev/null || true
	done
	sleep 0.5
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# rel: paths in an argument relative to the repository, for the recorded commands.
rel() { local p=$1; echo "${p//"$repo"\//}"; }
# logcmd ARGV...: append the command line, as run, to commands.txt.
logcmd() {
	local line="" a
	for a in "$@"; do
		a=$(rel "$a")
		if [[ $a == ">" || $a == "&" ]]; then line+=" $a"; continue; fi
		if [[ $a =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then
			line+=" $a"
		elif [[ $a != *"'"* ]]; then
			line+=" '$a'"
		else
			line+=" $(printf '%q' "$a")"
		fi
	done
	echo "${line# }" >>"$cmds"
}
echo "$invocation" >>"$cmds"
echo "# run from $repo at $(date -u +%Y-%m-%dT%H:%M:%SZ); the commands below are what it ran" >>"$cmds"

cd "$repo"
say "building voxd, voxbench, perfdoc into $OUT"
go build -o "$OUT/voxd" ./cmd/voxd
go build -o "$OUT/voxbench" ./cmd/voxbench
go build -o "$OUT/perfdoc" ./bench/cmd/perfdoc
rm -f "$OUT/voxd-opus"
if [ "$MIX" = 1 ] && [ -e /usr/include/opus/opus.h ]; then
	go build -tags opus -o "$OUT/voxd-opus" ./cmd/voxd || say "warning: voxd with libopus did not build: no mix rows end to end"
fi
logcmd "$OUT/perfdoc" facts --out "$run/machine.json" --quick="$quick" --pinned="$pinned"
"$OUT/perfdoc" facts --out "$run/machine.json" --quick="$quick" --pinned="$pinned"

# ---------------------------------------------------------------- 1. netcompare
netcompare() { # netcompare PROFILE IMPLS
	local prof=$1 impls=$2 minutes
	minutes=$(((REPS * 4 * 11 * (SECS + 2)) / 60 + 3))
	local argv=(env OUT="$OUT" bench/compare.sh --impls "$impls" --fanouts 3 --modes pinned
		--reps "$REPS" --secs "$SECS" --steps "$STEPS" --size 120 --profile "$prof"
		--max-minutes "$minutes" --fwd-port "$NC_PORT_BASE" --sink-port $((NC_PORT_BASE + 100))
		--src-port $((NC_PORT_BASE + 200))
		--json "$run/netcompare-$prof.json" --markdown "$run/netcompare-$prof.md")
	logcmd "${argv[@]}"
	say "netcompare $impls --profile $prof (at most $minutes min)"
	timeout -k 10 $((minutes * 60 + 60)) "${argv[@]}" >"$run/netcompare-$prof.out" 2>"$run/netcompare-$prof.log" &
	pids=($!)
	wait $! || say "warning: netcompare $prof failed (exit $?); see $run/netcompare-$prof.log"
	pids=()
}
for prof in $PROFILES; do
	case "$prof" in
	aes_cm_80) netcompare aes_cm_80 c,vox,voxsrtp ;;
	*) netcompare "$prof" c,voxsrtp ;;
	esac
done

# 1b. The same forwarders driven smoothly (one datagram per paced send, as
# voxbench's clients arrive), CPU cost only, at the burst run's common rate.
nc_help=$("$OUT/netcompare" run --help 2>&1 || true)
if [ "$SMOOTH" = 1 ] && grep -q -- '-gen-batch' <<<"$nc_help"; then
	for prof in $PROFILES; do
		if ! rate=$("$OUT/perfdoc" common-rate --json "$run/netcompare-$prof.json" 2>/dev/null); then
			say "warning: no common rate for $prof: no smooth netcompare"
			continue
		fi
		minutes=$(((REPS * 2 * 2 * (SECS + 2)) / 60 + 3))
		argv=(env OUT="$OUT" bench/compare.sh --impls c,voxsrtp --fanouts 3 --modes pinned --phases cost
			--common-rate "$rate" --gen-batch 1 --reps "$REPS" --secs "$SECS" --size 120 --profile "$prof"
			--max-minutes "$minutes" --fwd-port "$NC_PORT_BASE" --sink-port $((NC_PORT_BASE + 100))
			--src-port $((NC_PORT_BASE + 200))
			--json "$run/netcompare-$prof-smooth.json" --markdown "$run/netcompare-$prof-smooth.md")
		logcmd "${argv[@]}"
		say "netcompare c,voxsrtp --profile $prof, smooth generator (--gen-batch 1) at $rate pps"
		timeout -k 10 $((minutes * 60 + 60)) "${argv[@]}" >"$run/netcompare-$prof-smooth.out" 2>"$run/netcompare-$prof-smooth.log" &
		pids=($!)
		wait $! || say "warning: smooth netcompare $prof failed (exit $?); see $run/netcompare-$prof-smooth.log"
		pids=()
	done
fi

# ---------------------------------------------------------------- 2. voxd + voxbench
full_profile() {
	case "$1" in
	aes_cm_80) echo AES_CM_128_HMAC_SHA1_80 ;;
	aes_cm_32) echo AES_CM_128_HMAC_SHA1_32 ;;
	gcm) echo AEAD_AES_128_GCM ;;
	*) die "unknown profile $1" ;;
	esac
}
# Flags another change may add to voxbench: use them when it has them.
bench_help=$("$OUT/voxbench" steady --help 2>&1 || true)
bench_extra() { # bench_extra PROFILE: --transport gso, --profile P when supported
	if grep -q -- '--transport' <<<"$bench_help"; then
		printf '%s\n' --transport gso
	fi
	if grep -q -- '--profile' <<<"$bench_help"; then
		if grep -q 'AEAD_AES_128_GCM' <<<"$bench_help"; then
			printf '%s\n' --profile "$(full_profile "$1")"
		elif grep -qi 'gcm' <<<"$bench_help"; then
			printf '%s\n' --profile "$1"
		fi # else: voxd's --srtp-profile decides (the client takes the admission's profile)
	fi
}

voxd_pid= voxd_tpid=
start_voxd() { # start_voxd PROFILE [VOXD ARGS...]: voxd for this profile, pinned, time-bounded
	local prof=$1 tpid i
	shift
	local argv=($(pin 0) timeout -s INT -k 5 3600 "${VOXD_BIN:-$OUT/voxd}" "$@" --shards 1
		--udp-addr "127.0.0.1:$VOXD_UDP_PORT" --admin-addr "127.0.0.1:$VOXD_ADMIN_PORT"
		--srtp-profile "$(full_profile "$prof")" --max-sessions 10000 --max-participants 20000
		--max-session-participants 64 --max-speakers 8 --cpu-high 100 --cpu-low 99
		--drain-grace 1s --drain-deadline 5s --log-level warn --log-format text)
	logcmd "${argv[@]}" "&"
	"${argv[@]}" 2>"$run/voxd-$prof${VOXD_LOG_TAG:-}.log" &
	tpid=$!
	voxd_tpid=$tpid
	pids+=("$tpid")
	voxd_pid=
	for i in $(seq 100); do # timeout's child is voxd
		voxd_pid=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null | awk '{print $1}')
		if [ -n "$voxd_pid" ] && curl -fsS "http://127.0.0.1:$VOXD_ADMIN_PORT/v1/status" >/dev/null 2>&1; then
			pids+=("$voxd_pid")
			return 0
		fi
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	say "warning: voxd ($prof) did not come up; see $run/voxd-$prof.log"
	return 1
}
stop_voxd() { # SIGINT stops voxd at once (SIGTERM would start a drain)
	local p
	for p in $voxd_pid $voxd_tpid; do
		kill -INT "$p" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		kill -0 "$voxd_tpid" 2>/dev/null || break
		sleep 0.1
	done
	for p in $voxd_pid $voxd_tpid; do
		kill -KILL "$p" 2>/dev/null || true
	done
	[ -z "$voxd_tpid" ] || wait "$voxd_tpid" 2>/dev/null || true
	voxd_pid= voxd_tpid=
	pids=()
}
voxbench() { # voxbench FILE LIMIT_S ARGS...: one pinned, time-bounded voxbench run
	local file=$1 limit=$2
	shift 2
	local argv=(timeout -k 10 "$limit" $(pin 1) "$OUT/voxbench" "$@")
	logcmd "${argv[@]}" ">" "$file"
	local rc=0
	"${argv[@]}" >"$file" 2>"${file%.json}.log" &
	local bpid=$!
	pids+=("$bpid")
	wait "$bpid" || rc=$?
	unset 'pids[${#pids[@]}-1]'
	case $rc in
	0) ;;
	1) say "  $(basename "$file"): an objective was missed (exit 1; recorded)" ;;
	*) say "warning: $(basename "$file"): voxbench exit $rc; see ${file%.json}.log" ;;
	esac
}
secs_of() { # 10s -> 10
	local d=$1
	d=${d%s}
	echo "${d%.*}"
}
steady_limit=$(($(secs_of "$DURATION") + $(secs_of "$WARMUP") + 120))
ramp_limit=$((RAMP_STEPS * (steady_limit - 60) + 120))
objectives=(--max-loss 0.1 --max-p99 5ms)
ramp() { # ramp FILE [VOXBENCH ARGS...]: sessions of 4 all talking, RAMP_* steps
	local file=$1
	shift
	voxbench "$file" "$ramp_limit" ramp --admin "127.0.0.1:$VOXD_ADMIN_PORT" --json \
		--server-pid "$voxd_pid" --payload 120 --size 4 --talkers 4 --sessions "$RAMP_START" \
		--step "$RAMP_STEP" --steps "$RAMP_STEPS" --duration "$RAMP_DURATION" --warmup 1s "${objectives[@]}" "${extra[@]}" "$@"
}
for prof in $PROFILES; do
	if ! start_voxd "$prof"; then
		stop_voxd
		continue
	fi
	mapfile -t extra < <(bench_extra "$prof")
	common=(--admin "127.0.0.1:$VOXD_ADMIN_PORT" --json --server-pid "$voxd_pid" --payload 120
		--duration "$DURATION" --warmup "$WARMUP" "${objectives[@]}" "${extra[@]}")
	s4=$S4_SESSIONS
	if [ -z "$S4_FIXED" ] && [ "$quick" = 0 ] && rate=$("$OUT/perfdoc" common-rate --json "$run/netcompare-$prof.json" 2>/dev/null); then
		s4=$(((rate + 100) / 200))
		[ "$s4" -ge 20 ] || s4=20
		[ "$s4" -le "$S4_MAX" ] || s4=$S4_MAX
		say "sessions of 4 for $prof: $s4 (netcompare's common rate $rate pps / 200, at most $S4_MAX)"
	fi
	for r in $(seq "$REPS"); do # the two layouts interleaved, so drift hits both alike
		say "voxbench steady $prof rep $r/$REPS: $s4 sessions of 4 (4 talking), $S8_SESSIONS of 8 ($S8_TALKERS talking)"
		voxbench "$run/steady-$prof-s4-r$r.json" "$steady_limit" steady "${common[@]}" \
			--sessions "$s4" --size 4 --talkers 4
		voxbench "$run/steady-$prof-s8-r$r.json" "$steady_limit" steady "${common[@]}" \
			--sessions "$S8_SESSIONS" --size 8 --talkers "$S8_TALKERS"
		if [ -n "$SEND_TICK" ] && grep -q -- '--send-tick' <<<"$bench_help"; then
			voxbench "$run/steady-$prof-s4b-r$r.json" "$steady_limit" steady "${common[@]}" \
				--sessions "$s4" --size 4 --talkers 4 --send-tick "$SEND_TICK"
		fi
	done
	say "voxbench ramp $prof: sessions of 4 from $RAMP_START, +$RAMP_STEP, up to $RAMP_STEPS steps"
	ramp "$run/ramp-$prof.json"
	if [ -n "$RAMP_SEND_TICK" ] && grep -q -- '--send-tick' <<<"$bench_help"; then
		say "voxbench ramp $prof, sends every $RAMP_SEND_TICK: sessions of 4 from $RAMP_START, +$RAMP_STEP, up to $RAMP_STEPS steps"
		ramp "$run/ramp-$prof-tick.json" --send-tick "$RAMP_SEND_TICK"
	fi
	stop_voxd
done

# 2b. Receive coalescing on (voxd's default --rx-coalesce) and off, sessions
# of 4 at each of COAL_LOADS, interleaved; voxd restarted for every run.
voxd_help=$("$OUT/voxd" --help 2>&1 || true)
if [ -n "$COAL_LOADS" ] && grep -q -- '-rx-coalesce' <<<"$voxd_help"; then
	coal_limit=$(($(secs_of "$COAL_DURATION") + 1 + 120))
	for prof in $PROFILES; do
		mapfile -t extra < <(bench_extra "$prof")
		for r in $(seq "$COAL_REPS"); do
			for n in $COAL_LOADS; do
				for mode in on off; do
					flags=()
					[ "$mode" = off ] && flags=(--rx-coalesce 0)
					if ! start_voxd "$prof" "${flags[@]}"; then
						stop_voxd
						continue
					fi
					say "coalescing $mode, $prof: $n sessions of 4 (rep $r/$COAL_REPS)"
					voxbench "$run/coalesce-$prof-s$n-$mode-r$r.json" "$coal_limit" steady --admin "127.0.0.1:$VOXD_ADMIN_PORT" \
						--json --server-pid "$voxd_pid" --payload 120 --duration "$COAL_DURATION" --warmup 1s \
						"${objectives[@]}" "${extra[@]}" --sessions "$n" --size 4 --talkers 4
					stop_voxd
				done
			done
		done
	done
fi

# 2c. Mix mode end to end: voxd built with libopus, voxbench ramp --mix in
# rooms of 4 and of 8, everybody talking (AEAD_AES_128_GCM).
if [ "$MIX" = 1 ] && [ -x "$OUT/voxd-opus" ] && grep -q -- '--mix' <<<"$bench_help"; then
	for m in 4 8; do
		if [ "$m" = 4 ]; then read -r mstart mstep msteps <<<"$MIX_RAMP4"; else read -r mstart mstep msteps <<<"$MIX_RAMP8"; fi
		if ! VOXD_BIN="$OUT/voxd-opus" VOXD_LOG_TAG="-mix-m$m" start_voxd gcm; then
			stop_voxd
			continue
		fi
		mapfile -t extra < <(bench_extra gcm)
		say "voxbench ramp --mix: rooms of $m all talking from $mstart, +$mstep, up to $msteps steps"
		voxbench "$run/ramp-mix-m$m.json" "$ramp_limit" ramp --admin "127.0.0.1:$VOXD_ADMIN_PORT" --json --mix \
			--server-pid "$voxd_pid" --size "$m" --talkers "$m" --sessions "$mstart" --step "$mstep" --steps "$msteps" \
			--duration "$RAMP_DURATION" --warmup 1s "${objectives[@]}" "${extra[@]}"
		stop_voxd
	done
fi

# ---------------------------------------------------------------- 3. micro-benchmarks
if [ "$MICROBENCH" = 1 ]; then
	argv=(timeout -k 10 600 $(pin 0) go test -run '^$' -bench 'Forward$|ForwardRooms$' -benchmem -count "$d_mbcount"
		-benchtime "$d_mbtime" ./sessionmgr/)
	logcmd "${argv[@]}" ">" "$run/microbench.txt"
	say "go test -bench 'Forward$|ForwardRooms$' ./sessionmgr/"
	"${argv[@]}" >"$run/microbench.txt" 2>&1 || say "warning: micro-benchmarks failed; see $run/microbench.txt"
fi

# 3b. Mix mode: rooms of 4 and 8, all talking, through the engine (libopus).
if [ "$MIX" = 1 ] && [ -e /usr/include/opus/opus.h ]; then
	argv=(go test -c -tags opus -o "$OUT/sessionmgr-opus.test" ./sessionmgr/)
	logcmd "${argv[@]}"
	if "${argv[@]}" 2>"$run/mixbench-build.log"; then
		for m in 4 8; do
			argv=(timeout -k 10 600 $(pin 0) "$OUT/sessionmgr-opus.test" -test.run '^$'
				-test.bench "MixModeFrame/members$m/talkers$m\$" -test.benchmem -test.count 3
				-test.benchtime "$MIX_FRAMES" -test.cpuprofile "$run/mixprof-m$m.pprof")
			logcmd "${argv[@]}" ">" "$run/mixbench-m$m.txt"
			say "mix mode: rooms of $m all talking"
			(cd sessionmgr && "${argv[@]}") >"$run/mixbench-m$m.txt" 2>&1 || say "warning: mix benchmark m$m failed; see $run/mixbench-m$m.txt"
			argv=(go tool pprof -top -cum -nodecount=400 "$OUT/sessionmgr-opus.test" "$run/mixprof-m$m.pprof")
			logcmd "${argv[@]}" ">" "$run/mixprof-m$m.txt"
			"${argv[@]}" >"$run/mixprof-m$m.txt" 2>/dev/null || say "warning: no mix profile m$m"
		done
	else
		say "warning: the opus build of sessionmgr's tests failed; see $run/mixbench-build.log"
	fi
elif [ "$MIX" = 1 ]; then
	say "no libopus-dev (/usr/include/opus/opus.h): no mix-mode rows"
fi

# ---------------------------------------------------------------- 4. render
argv=("$OUT/perfdoc" render --run "$run" --out "$run/performance.md")
logcmd "${argv[@]}"
"${argv[@]}"
if [ "$publish" = 1 ]; then
	date_dir="docs/perf/$(date +%Y-%m-%d)-record"
	argv=("$OUT/perfdoc" render --run "$run" --out docs/performance.md --copy-to "$date_dir")
	logcmd "${argv[@]}"
	"${argv[@]}"
	say "wrote docs/performance.md and $date_dir/"
fi
say "done: $run/performance.md"
