#!/bin/bash
# Benchmark, not a test: make check's guest run skips it; run it with
#     run-guest.sh -e VERBS_BENCH=1 verbs-bench
# winbench over the verbs transport on rxe0
# against perftest on the same device in the same guest run, with ratios.
#   latency:   winbench put (put + flush), get, fetch-op, compare-swap, 8 B
#              vs ib_write_lat, ib_read_lat, ib_atomic_lat (t_typical, 8 B)
#   bandwidth: winbench put bw 64 KiB (64 puts per flush)
#              vs ib_write_bw -s 65536
# Targets: latency ratio <= 1.1, bandwidth ratio >= 0.9.
# VERBS_BENCH_ITERS sets winbench's and perftest's iterations (default 1000).
. "$SRCDIR/tests/guest/lib.sh"
set -u
[ "${VERBS_BENCH:-0}" = 1 ] ||
	skip "benchmark only: run-guest.sh -e VERBS_BENCH=1 verbs-bench"
need_cmd ib_write_lat perftest
setup_rxe || fail "could not set up rxe0"
export WIN_VERBS_DEVICE=rxe0
iters=${VERBS_BENCH_ITERS:-1000}
out=$TMPDIR/vbench.$$

# perf NAME ARGS...: server and client of a perftest program on rxe0;
# the client's output goes to $out.NAME.
perf() {
	local name=$1 srv ok=no try
	shift
	timeout 300 "$name" -F -d rxe0 -x 1 "$@" >"$out.$name.srv" 2>&1 &
	srv=$!
	for try in 1 2 3 4 5 6 7 8 9 10; do
		sleep 1
		if timeout 300 "$name" -F -d rxe0 -x 1 "$@" 169.254.77.1 >"$out.$name" 2>&1; then
			ok=yes
			break
		fi
		kill -0 $srv 2>/dev/null || break
	done
	wait $srv
	[ $ok = yes ] || { cat "$out.$name"; fail "$name did not run"; }
}

# Latency programs: the t_typical column (5th) of the 8-byte row.
perf ib_write_lat -s 8 -n "$iters"
perf ib_read_lat -s 8 -n "$iters"
perf ib_atomic_lat -n "$iters"
perf ib_write_bw -s 65536 -n "$iters"
wlat=$(awk '$1 == 8 && NF >= 5 { print $5; exit }' "$out.ib_write_lat")
rlat=$(awk '$1 == 8 && NF >= 5 { print $5; exit }' "$out.ib_read_lat")
alat=$(awk '$1 == 8 && NF >= 5 { print $5; exit }' "$out.ib_atomic_lat")
# Bandwidth: BW average (4th column), perftest's MB/sec = 2^20 bytes/s.
wbw=$(awk '$1 == 65536 && NF >= 4 { print $4; exit }' "$out.ib_write_bw")
for f in ib_write_lat ib_read_lat ib_atomic_lat ib_write_bw; do
	echo "--- $f"
	grep -E '^ *#bytes|^ *[0-9]+ +[0-9]+ ' "$out.$f"
done
[ -n "$wlat" ] && [ -n "$rlat" ] && [ -n "$alat" ] && [ -n "$wbw" ] ||
	fail "could not read perftest's results"

echo "--- winbench -T verbs"
timeout 900 bench/winbench -T verbs -o put,get,fop,cas -k lat -m 8:8 \
	-i "$iters" -x 50 -r 3 -M --csv >"$out.lat" 2>&1 ||
	{ cat "$out.lat"; fail "winbench latency run failed"; }
timeout 900 bench/winbench -T verbs -o put,get -k bw -m 65536:65536 \
	-I $((iters / 4)) -X 10 -r 3 -M --csv >"$out.bw" 2>&1 ||
	{ cat "$out.bw"; fail "winbench bandwidth run failed"; }
cat "$out.lat" "$out.bw"
med() { # KIND OP FILE: median column of winbench's CSV row
	awk -F, -v k="$1" -v o="$2" '$1 == "libwin" && $2 == k && $3 == o { print $10; exit }' "$3"
}
put=$(med lat put "$out.lat")
get=$(med lat get "$out.lat")
fop=$(med lat fop "$out.lat")
cas=$(med lat cas "$out.lat")
pbw=$(med bw put "$out.bw")
gbw=$(med bw get "$out.bw")
[ -n "$put" ] && [ -n "$pbw" ] || fail "could not read winbench's results"
grep -q ',verbs,' "$out.lat" || fail "winbench did not run over verbs"

echo "=== verbs vs perftest on rxe0 (same guest run)"
awk -v put="$put" -v get="$get" -v fop="$fop" -v cas="$cas" \
    -v wl="$wlat" -v rl="$rlat" -v al="$alat" -v pbw="$pbw" -v gbw="$gbw" \
    -v wbw="$wbw" 'BEGIN {
	wbw_mb = wbw * 1.048576;  # MiB/s -> MB/s (winbench prints 10^6)
	printf "%-34s %10s %10s %7s %s\n", "measure", "libwin", "perftest", "ratio", "target"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "put+flush 8 B lat (us) / write_lat", put, wl, put / wl, "<= 1.1"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "put+flush 8 B / 2 x write_lat", put, 2 * wl, put / (2 * wl), "(round trip)"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "get 8 B lat (us) / read_lat", get, rl, get / rl, "<= 1.1"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "fetch_op 8 B lat (us) / atomic_lat", fop, al, fop / al, "<= 1.1"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "cas 8 B lat (us) / atomic_lat", cas, al, cas / al, "<= 1.1"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "put bw 64 KiB (MB/s) / write_bw", pbw, wbw_mb, pbw / wbw_mb, ">= 0.9"
	printf "%-34s %10.2f %10.2f %7.2f %s\n", "get bw 64 KiB (MB/s) / write_bw", gbw, wbw_mb, gbw / wbw_mb, "(no read_bw run)"
}'
rm -f "$out".*
