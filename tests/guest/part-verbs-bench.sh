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
# Emulated time drifts with the host's load, so the programs run in
# rounds (VERBS_BENCH_ROUNDS, default 3): in every round each perftest
# program runs right next to the winbench run it is compared with (perftest
# first in odd rounds, second in even ones), each round gives its own
# ratios, and the table shows the median figures and the median of the
# per-round ratios.
# VERBS_BENCH_ITERS sets the iterations of both (default 1000).
. "$SRCDIR/tests/guest/lib.sh"
set -u
[ "${VERBS_BENCH:-0}" = 1 ] ||
	skip "benchmark only: run-guest.sh -e VERBS_BENCH=1 verbs-bench"
need_cmd ib_write_lat perftest
setup_rxe || fail "could not set up rxe0"
export WIN_VERBS_DEVICE=rxe0
iters=${VERBS_BENCH_ITERS:-1000}
rounds=${VERBS_BENCH_ROUNDS:-3}
out=$TMPDIR/vbench.$$
res=$TMPDIR/vbench.$$.rows	# lines: round measure libwin perftest

# perf NAME ARGS...: server and client of a perftest program on rxe0;
# the client's output goes to $out.perf.
perf() {
	local name=$1 srv ok=no try
	shift
	timeout 300 "$name" -F -d rxe0 -x 1 "$@" >"$out.srv" 2>&1 &
	srv=$!
	for try in 1 2 3 4 5 6 7 8 9 10; do
		sleep 1
		if timeout 300 "$name" -F -d rxe0 -x 1 "$@" 169.254.77.1 \
		    >"$out.perf" 2>&1; then
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
row() { # ROUND MEASURE LIBWIN PERFTEST: a round without both is left out
	[ -n "$3" ] || fail "round $1: winbench gave no figure for $2"
	if [ -z "$4" ]; then
		echo "round $1: perftest gave no usable figure for $2: left out"
		return
	fi
	echo "$1 $2 $3 $4" >>"$res"
}

: >"$res"
# wb OUT ARGS...: one winbench run over verbs (CSV into OUT).
wb() {
	local f=$1
	shift
	timeout 900 bench/winbench -T verbs -M --csv "$@" >"$f" 2>&1 ||
		{ cat "$f"; fail "winbench $* failed"; }
	grep -q ',verbs,' "$f" || { cat "$f"; fail "winbench did not run over verbs"; }
	grep '^libwin' "$f" | sed 's/^/  winbench: /' >&2
}
# pair FIRST: each comparison runs perftest and winbench back to back,
# perftest first in odd rounds and second in even ones, so neither side
# always gets the guest's warmer or colder moment.
pair() {
	if [ $((round % 2)) = 1 ]; then
		p=$(measure "${pa[@]}")
		wb "${wa[@]}"
	else
		wb "${wa[@]}"
		p=$(measure "${pa[@]}")
	fi
}
# perftest's MB/sec are 2^20 bytes/s; winbench prints 10^6.
mb() { awk -v v="$1" 'BEGIN { if (v != "") print v * 1.048576 }'; }
lat="-k lat -m 8:8 -i $iters -x 50 -r 3 -P"
bw="-k bw -m 65536:65536 -I $((iters / 4)) -X 10 -r 3"
for round in $(seq 1 "$rounds"); do
	echo "=== round $round of $rounds"
	pa=(8 5 ib_write_lat -s 8 -n "$iters")
	wa=("$out.lat" -o put $lat)
	pair
	wl=$p
	row "$round" put_lat "$(med lat put "$out.lat")" "$wl"
	wb "$out.pp" -o put -s pp $lat
	row "$round" pp_lat "$(med lat put "$out.pp")" "$wl"
	pa=(8 5 ib_read_lat -s 8 -n "$iters")
	wa=("$out.lat" -o get $lat)
	pair
	row "$round" get_lat "$(med lat get "$out.lat")" "$p"
	pa=(8 5 ib_atomic_lat -A FETCH_AND_ADD -n "$iters")
	wa=("$out.lat" -o fop $lat)
	pair
	row "$round" fop_lat "$(med lat fop "$out.lat")" "$p"
	pa=(8 5 ib_atomic_lat -A CMP_AND_SWAP -n "$iters")
	wa=("$out.lat" -o cas $lat)
	pair
	row "$round" cas_lat "$(med lat cas "$out.lat")" "$p"
	for op in put get; do
		prog=ib_write_bw
		[ $op = put ] || prog=ib_read_bw
		pa=(65536 4 $prog -s 65536 -n "$iters")
		wa=("$out.nb" -N -o $op $bw)
		pair
		pbw=$(mb "$p")
		row "$round" ${op}_bw "$(med bw $op "$out.nb")" "$pbw"
		wb "$out.bw" -o $op $bw
		row "$round" ${op}_bwb "$(med bw $op "$out.bw")" "$pbw"
	done
done

echo "=== verbs vs perftest on rxe0: medians of $rounds rounds (same guest run)"
awk '
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	m = $2; n[m]++
	lw[m, n[m]] = $3; pt[m, n[m]] = $4; ra[m, n[m]] = $3 / $4
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
	printf "%-38s %9s %9s %7s %s\n", "measure", "libwin", "perftest", "ratio", "target"
	for (k = 1; k in order; k++) {
		m = order[k]
		if (!n[m]) {
			printf "%-38s (no round gave both figures)\n", label[m]
			continue
		}
		for (i = 1; i <= n[m]; i++) {
			x[i] = lw[m, i]; y[i] = pt[m, i]; z[i] = ra[m, i]
		}
		tg = m ~ /bwb/ ? "(information)" : m ~ /bw/ ? ">= 0.9" : "<= 1.1"
		printf "%-38s %9.2f %9.2f %7.2f %s\n", label[m], median(x, n[m]),
		       median(y, n[m]), median(z, n[m]), tg
		if (m == "put_lat")
			printf "%-38s %9s %9s %7.2f %s\n", "  put+flush / 2 x ib_write_lat", "", "",
			       median(z, n[m]) / 2, "(a write + a read: a round trip)"
	}
}' "$res"
rm -f "$out".* "$res"
