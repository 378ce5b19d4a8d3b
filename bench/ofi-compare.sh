#!/bin/sh
# ofi-compare.sh: winbench over libwin's ofi transport against ofibench, the
# same flush-mode loops written directly on libfabric, on the same provider
# in the same run; prints per size both figures and their ratio.
# Targets: latency libwin/raw <= 1.1, bandwidth libwin/raw >= 0.95.
#
# Same semantics on both sides: winbench's put and get are blocking calls
# (each returns when its buffer is reusable or filled), so the ratio is
# taken against ofibench -b blocking, where every write and read waits for
# its own completion too; the last column is ofibench -b pipelined (all W
# of a batch in flight), the provider's ceiling, for information. Both
# targets drive progress the same way (libwin's progress thread and
# ofibench's target: fi_cq_sread on an fd wait object, else the same
# polling backoff, kept polling while a FI_RMA_EVENT counter shows peers'
# operations served), both origins wait for completions the same way (poll,
# pause, yield, then 20 us sleeps), both use the same rxm sizes, and both
# sweep in the same order (latency of put, get, fetch-op, then bandwidth
# of put and get, each over all sizes); the figures are medians over -r
# alternated runs (the first program swapped from run to run), and the
# load average is printed before and after.
#
# Usage: ofi-compare.sh [-p PROVIDER] [-m MIN:MAX] [-i N] [-I N] [-x N]
#                       [-W N] [-r N] [-R N] [-o put,get,fop] [-u]
# -i operations per timed loop up to 8 KiB, -I above (default: as -i, so
# that a loop of the larger sizes does not last only a millisecond or two,
# at the mercy of one descheduling); -r runs of each program, alternated
# (median over them); -R repetitions of each timed loop inside a run (each
# program reports their median). Both programs bind their two processes
# to a CPU each (-B; see bench_bind.h); -u leaves them unbound.
# Environment: WINBENCH, OFIBENCH (paths; default next to this script, then
# the current directory). Traffic stays on loopback (FI_TCP_IFACE=lo).
set -u
prov=${WIN_OFI_PROVIDER:-tcp}
range=8:1M
iters=2000
iters_large=
warm=100
win=64
reps=3
inreps=5
ops=put,get,fop
bind=-B
while getopts p:m:i:I:x:W:r:R:o:uh opt; do
	case $opt in
	p) prov=$OPTARG;;
	m) range=$OPTARG;;
	i) iters=$OPTARG;;
	I) iters_large=$OPTARG;;
	x) warm=$OPTARG;;
	W) win=$OPTARG;;
	r) reps=$OPTARG;;
	R) inreps=$OPTARG;;
	o) ops=$OPTARG;;
	u) bind=;;
	*) sed -n '2,31p' "$0"; exit 0;;
	esac
done
iters_large=${iters_large:-$iters}
# shellcheck source=bench/ofi-env.sh
. "$(dirname "$0")/ofi-env.sh"
min=${range%:*}
max=${range#*:}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# provider $prov, sizes $range, $iters iterations ($iters_large above" \
     "8 KiB; $warm warm-up)," \
     "bw window $win, $reps runs each of $inreps repetitions (median of" \
     "the runs' medians); $([ -n "$bind" ] && echo 'ranks bound to a CPU each' || echo unbound)"
echo "# load average before: $(load)"
# Alternate the two programs so both see the same machine load, and swap
# which one goes first from run to run, so that a load that rises or falls
# during the runs does not always favour the same one.
run_lw() {
	WIN_TRANSPORTS=ofi timeout 900 "$WINBENCH" -T ofi -o "$ops" -s flush \
		-k lat,bw -m "$min:$max" -i "$iters" -I "$iters_large" \
		-x "$warm" -W "$win" -r "$inreps" -M -V -c $bind >"$tmp/lw.$i" \
		2>"$tmp/lw.err.$i" ||
		{ echo "winbench failed:"; cat "$tmp/lw.err.$i"; exit 1; }
}
run_raw() {
	timeout 900 "$OFIBENCH" -p "$prov" -o "$ops" -k lat,bw -b blocking \
		-r "$inreps" -m "$min:$max" -i "$iters" -I "$iters_large" \
		-x "$warm" -W "$win" $bind >"$tmp/raw.$i" 2>"$tmp/raw.err.$i" ||
		{ echo "ofibench failed:"; cat "$tmp/raw.err.$i"; exit 1; }
}
i=0
while [ $i -lt "$reps" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		run_lw
		run_raw
	else
		run_raw
		run_lw
	fi
	case $ops in
	*put*|*get*)
		timeout 900 "$OFIBENCH" -p "$prov" -o "$ops" -k bw \
			-b pipelined -r "$inreps" -m "$min:$max" -i "$iters" \
			-I "$iters_large" -x "$warm" -W "$win" $bind \
			>"$tmp/pipe.$i" 2>"$tmp/pipe.err.$i" ||
			{ echo "ofibench -b pipelined failed:"
			  cat "$tmp/pipe.err.$i"; exit 1; };;
	esac
	i=$((i + 1))
done
cat "$tmp"/lw.[0-9]* | grep '^libwin,' >"$tmp/lw.all"
cat "$tmp"/raw.[0-9]* | grep '^ofi-raw,' >"$tmp/raw.all"
cat /dev/null "$tmp"/pipe.[0-9]* 2>/dev/null |
	grep '^ofi-raw-pipelined,' >"$tmp/pipe.all"
echo "# load average after: $(load)"
awk -F, "$(cat "$(dirname "$0")/stats.awk")"'
FNR == 1 { file++ }
{
	op = $3; if (op == "fetch_op") op = "fop"
	k = $2 "," op "," $7
	if (file == 1) lw[k, ++nl[k]] = $10
	else if (file == 2) rw[k, ++nr[k]] = $10
	else pw[k, ++np[k]] = $10
	if (file < 3 && !(k in seen)) { seen[k] = 1; order[++nk] = k }
}
END {
	printf "%-4s %-4s %9s %14s %14s %8s %-16s %s\n", "kind", "op", "size",
	       "libwin", "raw ofi", "ratio", "target", "raw pipelined"
	for (i = 1; i <= nk; i++) {
		k = order[i]
		if (!nl[k] || !nr[k]) continue
		split(k, p, ",")
		for (j = 1; j <= nl[k]; j++) a[j] = lw[k, j]
		l = median(a, nl[k])
		for (j = 1; j <= nr[k]; j++) b[j] = rw[k, j]
		r = median(b, nr[k])
		ratio = r > 0 ? l / r : 0
		if (p[1] == "lat") { unit = "us"; ok = ratio <= 1.1 ? "ok (<= 1.1)" : "MISSED (<= 1.1)" }
		else { unit = "MB/s"; ok = ratio >= 0.95 ? "ok (>= 0.95)" : "MISSED (>= 0.95)" }
		pipe = "-"
		if (np[k]) {
			for (j = 1; j <= np[k]; j++) c[j] = pw[k, j]
			pipe = sprintf("%.2f %s", median(c, np[k]), unit)
		}
		printf "%-4s %-4s %9s %11.2f %-4s %9.2f %-4s %8.3f %-16s %s\n", p[1], p[2], p[3], l, unit, r, unit, ratio, ok, pipe
		if (ratio > 0) {
			g = p[1] " " p[2]
			if (!(g in gn)) gorder[++ng] = g
			gs[g] += log(ratio); gn[g]++
		}
	}
	# One figure per kind and op, less at the mercy of one noisy size.
	print "# geometric mean of the ratios over the sizes:"
	for (i = 1; i <= ng; i++)
		printf "#   %-8s %6.3f over %d sizes\n", gorder[i],
		       exp(gs[gorder[i]] / gn[gorder[i]]), gn[gorder[i]]
}' "$tmp/lw.all" "$tmp/raw.all" "$tmp/pipe.all"
