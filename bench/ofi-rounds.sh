#!/bin/sh
# ofi-rounds.sh: one operation at one size, winbench over libwin's ofi
# transport against ofibench (the same loop written directly on
# libfabric), in many short alternated rounds; prints each round's two
# figures and their ratio, then the median of the per-round ratios with
# its quartiles and its 95 % confidence interval (from order statistics:
# +-0.01-0.03 at 100 rounds of bandwidth on 2 cores, where single rounds
# scatter 0.8-1.3). On a small, shared machine a whole sweep
# (ofi-compare.sh) lands in one scheduling mode or another and its ratios
# swing by 10-30 %; the ratios of many rounds, each taken under the load of
# its moment, show the effect of a change of a few percent.
#
# Usage: ofi-rounds.sh [-p PROVIDER] [-k lat|bw] [-o put|get|fop] [-s SIZE]
#                      [-n ROUNDS] [-e "VAR=VALUE ..."] [-b MODE] [-u] [-P]
# Defaults: tcp, bw, put, 8192 bytes, 40 rounds. -e: environment for
# winbench's side only (e.g. -e WIN_OFI_PROGRESS_PIN=0), to compare a
# variant against the same raw rounds: run it twice, or give -e "" for the
# default. -b pipelined: ofibench keeps each bandwidth batch in flight
# (the provider's ceiling) instead of its default blocking calls.
# Latency: -i 5000 operations after 200 of warm-up; bandwidth: -W 64 per
# flush, 4000 windows up to 8 KiB, 2000 above; each program
# reports the median of 3 repetitions. Rounds alternate which program
# runs first. Both programs bind their two processes to a CPU each (-B;
# see bench_bind.h); -u leaves them unbound. -P: ofibench's processes have
# a second, idle thread each, as libwin's have their progress thread
# (ofibench.c says what that costs). Targets:
# latency <= 1.1, bandwidth >= 0.95.
# Environment: WINBENCH, OFIBENCH (paths; default next to this script, then
# the current directory). Traffic stays on loopback (FI_TCP_IFACE=lo).
set -u
prov=${WIN_OFI_PROVIDER:-tcp}
kind=bw
op=put
size=8192
rounds=40
lwenv=
bind=-B
rawmode=blocking
rawthr=
while getopts p:k:o:s:n:e:b:uPh opt; do
	case $opt in
	p) prov=$OPTARG;;
	k) kind=$OPTARG;;
	o) op=$OPTARG;;
	s) size=$OPTARG;;
	n) rounds=$OPTARG;;
	e) lwenv=$OPTARG;;
	b) rawmode=$OPTARG;;
	u) bind=;;
	P) rawthr=-P;;
	*) sed -n '2,29p' "$0"; exit 0;;
	esac
done
case $kind in
lat) loops="-i 5000 -x 200";;
bw) loops="-i 4000 -I 2000 -x 100 -W 64";;
*) echo "ofi-rounds: -k lat or bw" >&2; exit 2;;
esac
# shellcheck source=bench/ofi-env.sh
. "$(dirname "$0")/ofi-env.sh"
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT

# Each prints the median figure of its CSV row, or fails.
lw() {
	# shellcheck disable=SC2086 # $lwenv and $loops are word lists
	env $lwenv WIN_TRANSPORTS=ofi timeout 300 "$WINBENCH" -T ofi -o "$op" \
		-s flush -k "$kind" -m "$size:$size" $loops -r 3 -M -V -c $bind \
		2>/dev/null | awk -F, '$1 == "libwin" { print $10; exit }'
}
raw() {
	# shellcheck disable=SC2086
	timeout 300 "$OFIBENCH" -p "$prov" -o "$op" -k "$kind" -b "$rawmode" \
		-r 3 -m "$size:$size" $loops $bind $rawthr 2>/dev/null |
		awk -F, '$1 ~ /^ofi-raw/ { print $10; exit }'
}

unit=us
[ "$kind" = bw ] && unit=MB/s
echo "# $prov $kind $op $size B, $rounds alternated rounds${lwenv:+, libwin with $lwenv}, raw $rawmode${rawthr:+ with an idle thread}, $([ -n "$bind" ] && echo 'ranks bound to a CPU each' || echo unbound); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "round   libwin ($unit)   raw ($unit)   ratio"
r=1
while [ $r -le "$rounds" ]; do
	if [ $((r % 2)) -eq 1 ]; then
		a=$(lw); b=$(raw)
	else
		b=$(raw); a=$(lw)
	fi
	if [ -z "$a" ]; then
		echo "ofi-rounds: round $r: winbench gave no figure" >&2
		exit 1
	fi
	if [ -z "$b" ]; then
		echo "ofi-rounds: round $r: ofibench gave no figure" >&2
		exit 1
	fi
	echo "$r $a $b" | tee -a "$tmp" |
		awk '{ printf "%5d %14.3f %12.3f %7.3f\n", $1, $2, $3, $2 / $3 }'
	r=$((r + 1))
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v kind="$kind" "$(cat "$(dirname "$0")/stats.awk")"'
{ n++; lw[n] = $2; rw[n] = $3; ra[n] = $2 / $3 }
END {
	sort(lw, n); sort(rw, n); sort(ra, n)
	printf "# medians: libwin %.3f, raw %.3f; per-round ratio: median %.3f " \
	       "(quartiles %.3f-%.3f, 95%% interval %.3f-%.3f) over %d " \
	       "rounds; target %s\n",
	       q(lw, n, 0.5), q(rw, n, 0.5), q(ra, n, 0.5), q(ra, n, 0.25),
	       q(ra, n, 0.75), ra[ci_lo(n)], ra[ci_hi(n)], n,
	       kind == "lat" ? "<= 1.1" : ">= 0.95"
}' "$tmp"
