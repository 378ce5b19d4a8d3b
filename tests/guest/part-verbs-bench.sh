#!/bin/bash
# Benchmark, not a test: make check's guest run skips it; run it with
#     run-guest.sh -e VERBS_BENCH=1 verbs-bench
# winbench over the verbs transport on rxe0 against perftest on the same
# device in the same guest run, with ratios.
#   latency:   winbench put (put + flush), get, fetch-op, compare-swap, 8 B
#              vs ib_write_lat, ib_read_lat, ib_atomic_lat (fetch-add and
#              compare-swap), and winbench's one-way put (-s pingpong:
#              half a ping-pong of polled puts, as ib_write_lat measures)
#              vs ib_write_lat. Both sides give the median of single
#              operations: perftest's t_typical, winbench -P (the
#              emulated CPUs stall now and then for milliseconds, which
#              makes means useless here)
#   bandwidth: winbench put and get 64 KiB (64 per flush)
#              vs ib_write_bw and ib_read_bw -s 65536, twice: with
#              nonblocking calls (winbench -N: win_iput/win_iget, all 64
#              in flight until the flush, as perftest keeps its queue
#              full; the figure held to the target) and with blocking
#              ones (each get waits for its data; for information)
# Targets: latency ratio <= 1.1, bandwidth ratio >= 0.9.
# Under emulation every run of either program settles in one of two modes
# a factor ~2 apart (and may switch between them midway; busy polling
# without yielding does not change that): a ratio of two single runs is
# 0.5, 1 or 2 by chance. So both sides
# run alike, VERBS_BENCH_RUNS times (default 3) per comparison and round,
# alternating (perftest first in odd rounds, winbench first in even ones),
# each run VERBS_BENCH_ITERS operations (default 1000) giving its median;
# a round's figure for each side is its best run (the lowest latency, the
# highest bandwidth) and, for information, the median of its runs. Emulated
# time drifts with the host's load, so there are VERBS_BENCH_ROUNDS rounds
# (default 3); the table shows the median figures and the median of the
# per-round ratios of both statistics.
# Both sides' two processes are bound to a CPU each, as mpirun
# --bind-to core binds ranks: winbench -B, perftest's server and client
# under taskset on the same two CPUs (VERBS_BENCH_BIND=0: unbound).
# VERBS_BENCH_ONLY="get_lat fop_lat": only the measures named (put_lat,
# pp_lat, get_lat, fop_lat, cas_lat, put_bw, get_bw, put_bwb, get_bwb).
. "$SRCDIR/tests/guest/lib.sh"
set -u
[ "${VERBS_BENCH:-0}" = 1 ] ||
	skip "benchmark only: run-guest.sh -e VERBS_BENCH=1 verbs-bench"
need_cmd ib_write_lat perftest
setup_rxe || fail "could not set up rxe0"
export WIN_VERBS_DEVICE=rxe0
bind=${VERBS_BENCH_BIND:-1}
[ "$bind" = 1 ] && need_cmd taskset util-linux
# CPUs of the origin and the target (winbench -B's choice: the first two).
cpus=($(taskset -pc $$ | sed 's/.*: *//' | tr ',' '\n' |
	awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }' |
	head -2))
if [ "$bind" = 1 ] && [ ${#cpus[@]} = 2 ]; then
	srv_cpu=(taskset -c "${cpus[1]}")
	cli_cpu=(taskset -c "${cpus[0]}")
	wb_bind=-B
else
	[ "$bind" = 1 ] && echo "fewer than two CPUs: both programs run unbound"
	srv_cpu=()
	cli_cpu=()
	wb_bind=
fi
iters=${VERBS_BENCH_ITERS:-1000}
rounds=${VERBS_BENCH_ROUNDS:-3}
runs=${VERBS_BENCH_RUNS:-3}
out=$TMPDIR/vbench.$$
res=$TMPDIR/vbench.$$.rows	# lines: round measure libwin perftest (best,
				# then median of runs)

# perf NAME ARGS...: server and client of a perftest program on rxe0;
# the client's output goes to $out.perf.
perf() {
	local name=$1 srv ok=no try
	shift
	"${srv_cpu[@]}" timeout 300 "$name" -F -d rxe0 -x 1 "$@" \
		>"$out.srv" 2>&1 &
	srv=$!
	for try in 1 2 3 4 5 6 7 8 9 10; do
		sleep 1
		if "${cli_cpu[@]}" timeout 300 "$name" -F -d rxe0 -x 1 "$@" \
		    169.254.77.1 >"$out.perf" 2>&1; then
			ok=yes
			break
		fi
		kill -0 $srv 2>/dev/null || break
	done
	wait $srv
	[ $ok = yes ] || { cat "$out.perf"; fail "$name did not run"; }
	grep -E '^ *#bytes|^ *[0-9]+ +[0-9]+ ' "$out.perf" | sed "s/^/  $name: /"
}
# col SIZE COLUMN: a column of perftest's row for SIZE, if it is a
# positive finite number (a stalled run prints "inf").
col() {
	awk -v s="$1" -v c="$2" '$1 == s && NF >= c && $c ~ /^[0-9.]+$/ &&
		$c + 0 > 0 { print $c; exit }' "$out.perf"
}
# measure SIZE COLUMN NAME ARGS...: run a perftest program, once more if
# its figure is unusable; prints the figure (empty if both runs failed).
measure() {
	local size=$1 c=$2 v= try
	shift 2
	for try in 1 2; do
		perf "$@" >&2
		v=$(col "$size" "$c")
		[ -n "$v" ] && break
	done
	echo "$v"
}
# med KIND OP FILE: the median column of winbench's CSV row.
med() {
	awk -F, -v k="$1" -v o="$2" '$1 == "libwin" && $2 == k && $3 == o {
		print $10; exit }' "$3"
}
# wb OUT ARGS...: one winbench run over verbs (CSV into OUT).
wb() {
	local f=$1
	shift
	timeout 900 bench/winbench -T verbs -M --csv $wb_bind "$@" >"$f" 2>&1 ||
		{ cat "$f"; fail "winbench $* failed"; }
	grep -q ',verbs,' "$f" || { cat "$f"; fail "winbench did not run over verbs"; }
	grep '^libwin' "$f" | sed 's/^/  winbench: /' >&2
}
# best KIND FIGURES...: the best figure (lowest for lat, highest for bw)
# and the median, as "best median"; nothing if there is no figure.
best() {
	local k=$1
	shift
	printf '%s\n' "$@" | grep . | sort -g | awk -v k="$k" '
		{ v[++n] = $1 }
		END {
			if (!n) exit
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			print (k == "lat" ? v[1] : v[n]), m
		}'
}
# compare NAME KIND WINBENCH-OP PERF-ARGS -- WINBENCH-ARGS: $runs runs of
# each side, alternating; appends the round's row for NAME. PERF-ARGS are
# measure's; a perftest figure in MB/s (2^20 bytes/s) is converted to
# winbench's 10^6 bytes/s.
compare() {
	local name=$1 kind=$2 op=$3 pa=() wa=() p=() w=() k pv wv
	shift 3
	while [ "$1" != -- ]; do pa+=("$1"); shift; done
	shift
	wa=("$@")
	for k in $(seq 1 "$runs"); do
		if [ $((round % 2)) = 1 ]; then
			pv=$(measure "${pa[@]}")
			wb "$out.wb" "${wa[@]}"
		else
			wb "$out.wb" "${wa[@]}"
			pv=$(measure "${pa[@]}")
		fi
		[ "$kind" = lat ] ||
			pv=$(awk -v v="$pv" 'BEGIN { if (v != "") print v * 1.048576 }')
		p+=("$pv")
		wv=$(med "$kind" "$op" "$out.wb")
		[ -n "$wv" ] || fail "round $round: winbench gave no figure for $name"
		w+=("$wv")
	done
	p=($(best "$kind" "${p[@]}"))
	w=($(best "$kind" "${w[@]}"))
	if [ ${#p[@]} != 2 ]; then
		echo "round $round: perftest gave no usable figure for $name: left out"
		return
	fi
	echo "$round $name ${w[0]} ${p[0]} ${w[1]} ${p[1]}" >>"$res"
}

: >"$res"
# -L: winbench's local buffers in its window memory, registered as
# perftest's are (gets read straight into it; VERBS_BENCH_HEAP=1: heap
# buffers, through the bounce ring).
local=-L
[ "${VERBS_BENCH_HEAP:-0}" = 1 ] && local=
lat="-k lat -m 8:8 -i $iters -x 50 -r 1 -P $local"
bw="-k bw -m 65536:65536 -I $((iters / 4)) -X 10 -r 1 $local"
all=" put_lat pp_lat get_lat fop_lat cas_lat put_bw get_bw put_bwb get_bwb "
only=" ${VERBS_BENCH_ONLY:-$all} "
for m in $only; do
	case $all in
	*" $m "*) ;;
	*) fail "VERBS_BENCH_ONLY: no measure '$m' (measures:$all)";;
	esac
done
compare_if() {
	case $only in
	*" $1 "*) compare "$@";;
	esac
}
for round in $(seq 1 "$rounds"); do
	echo "=== round $round of $rounds"
	compare_if put_lat lat put 8 5 ib_write_lat -s 8 -n "$iters" -- \
		-o put $lat
	compare_if pp_lat lat put 8 5 ib_write_lat -s 8 -n "$iters" -- \
		-o put -s pp $lat
	compare_if get_lat lat get 8 5 ib_read_lat -s 8 -n "$iters" -- \
		-o get $lat
	compare_if fop_lat lat fop 8 5 ib_atomic_lat -A FETCH_AND_ADD \
		-n "$iters" -- -o fop $lat
	compare_if cas_lat lat cas 8 5 ib_atomic_lat -A CMP_AND_SWAP \
		-n "$iters" -- -o cas $lat
	for op in put get; do
		prog=ib_write_bw
		[ $op = put ] || prog=ib_read_bw
		compare_if ${op}_bw bw $op 65536 4 $prog -s 65536 -n "$iters" -- \
			-N -o $op $bw
		compare_if ${op}_bwb bw $op 65536 4 $prog -s 65536 -n "$iters" -- \
			-o $op $bw
	done
done

echo "=== verbs vs perftest on rxe0: medians of $rounds rounds of $runs runs a side (same guest run)"
[ -n "$wb_bind" ] &&
	echo "    origin on CPU ${cpus[0]}, target on CPU ${cpus[1]} (both sides)"
if [ -n "$local" ]; then
	echo "    winbench's local buffers in its window memory (-L)"
else
	echo "    winbench's local buffers on the heap (through the bounce ring)"
fi
echo "    libwin, perftest, ratio: each side's best run of a round;"
echo "    ratio of medians: each side's median run of a round (information)"
awk -v only="$only" "$(cat "$SRCDIR/bench/stats.awk")"'
{
	m = $2; n[m]++
	lw[m, n[m]] = $3; pt[m, n[m]] = $4; ra[m, n[m]] = $3 / $4
	rm[m, n[m]] = $5 / $6
}
END {
	split("put_lat pp_lat get_lat fop_lat cas_lat put_bw get_bw " \
	      "put_bwb get_bwb", order, " ")
	label["put_lat"] = "put+flush 8 B (us) / ib_write_lat"
	label["pp_lat"] = "put 8 B one-way (us) / ib_write_lat"
	label["get_lat"] = "get 8 B (us) / ib_read_lat"
	label["fop_lat"] = "fetch_op 8 B (us) / ib_atomic_lat FA"
	label["cas_lat"] = "cas 8 B (us) / ib_atomic_lat CS"
	label["put_bw"] = "put 64 KiB -N (MB/s) / ib_write_bw"
	label["get_bw"] = "get 64 KiB -N (MB/s) / ib_read_bw"
	label["put_bwb"] = "put 64 KiB blocking / ib_write_bw"
	label["get_bwb"] = "get 64 KiB blocking / ib_read_bw"
	printf "%-38s %9s %9s %7s %7s %s\n", "measure", "libwin", "perftest",
	       "ratio", "of med", "target"
	for (k = 1; k in order; k++) {
		m = order[k]
		if (index(only, " " m " ") == 0)
			continue
		if (!n[m]) {
			printf "%-38s (no round gave both figures)\n", label[m]
			continue
		}
		for (i = 1; i <= n[m]; i++) {
			x[i] = lw[m, i]; y[i] = pt[m, i]; z[i] = ra[m, i]
			rq[i] = rm[m, i]
		}
		tg = m ~ /bwb/ ? "(information)" : m ~ /bw/ ? ">= 0.9" : "<= 1.1"
		if (m == "put_lat")
			tg = "(information: a round trip)"
		printf "%-38s %9.2f %9.2f %7.2f %7.2f %s\n", label[m],
		       median(x, n[m]), median(y, n[m]), median(z, n[m]),
		       median(rq, n[m]), tg
		if (m == "put_lat")
			printf "%-38s %9s %9s %7.2f %7s %s\n",
			       "  put+flush / 2 x ib_write_lat", "", "",
			       median(z, n[m]) / 2, "",
			       "(a write and its acknowledgement)"
	}
}' "$res"
rm -f "$out".* "$res"
