#!/bin/sh
# ofi-targets.sh: every benchmark target of the ofi transport, judged the
# way ofi-rounds.sh judges one: for each provider, each operation and a
# small and a medium size, many short alternated rounds of winbench over
# libwin's ofi transport against ofibench (the same loop written directly
# on libfabric), and the median of the per-round ratios libwin/raw. A
# whole sweep (ofi-compare.sh) on a small shared machine lands in one
# scheduling mode or another and single sizes scatter by 10-40 % from run
# to run; the median of many paired rounds does not move by more than a
# few percent between sets, so it is what the targets are held to.
#
# Usage: ofi-targets.sh [-p "PROVIDER..."] [-k lat|bw] [-n ROUNDS] [-q]
# Defaults: -p "shm tcp", both kinds, 30 rounds per measure (about 10
# minutes in all on 2 cores). -q: one size per operation (8 B latency,
# 8 KiB bandwidth). Prints one row per measure, with the 95 % confidence
# interval of its median (a verdict is only as sure as that interval is
# clear of the target: at 100 rounds of bandwidth it was +-0.01-0.03 on
# 2 cores, about half as wide as at 30), and a last line "all N measures met" or
# "K of N measures missed"; exits 0 when every measure gave figures (met
# or not), 1 when one could not be measured.
# Targets (as ofi-rounds.sh states them): latency <= 1.1, bandwidth >= 0.95.
set -u
provs="shm tcp"
rounds=30
quick=
kinds="lat bw"
while getopts p:k:n:qh opt; do
	case $opt in
	p) provs=$OPTARG;;
	k) kinds=$OPTARG;;
	n) rounds=$OPTARG;;
	q) quick=1;;
	*) sed -n '2,21p' "$0"; exit 0;;
	esac
done
here=$(dirname "$0")
if [ -n "$quick" ]; then
	measures="lat:put:8 lat:get:8 lat:fop:8 bw:put:8192 bw:get:8192"
else
	measures="lat:put:8 lat:put:8192 lat:get:8 lat:get:8192 lat:fop:8
		  bw:put:64 bw:put:8192 bw:get:64 bw:get:8192"
fi
echo "# ofi targets: median of per-round ratios libwin/raw over $rounds alternated rounds each; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-4s %-4s %7s %12s %12s %7s %13s %13s %s\n' provider kind \
	op size libwin raw ratio quartiles "95% interval" verdict
total=0
missed=0
broken=0
for prov in $provs; do
	for m in $measures; do
		kind=${m%%:*}
		rest=${m#*:}
		op=${rest%%:*}
		size=${rest#*:}
		case " $kinds " in *" $kind "*) ;; *) continue;; esac
		total=$((total + 1))
		line=$(sh "$here/ofi-rounds.sh" -p "$prov" -k "$kind" -o "$op" \
			-s "$size" -n "$rounds" 2>&1 | grep '^# medians:')
		if [ -z "$line" ]; then
			printf '%-8s %-4s %-4s %7s  no figures (run ofi-rounds.sh -p %s -k %s -o %s -s %s to see why)\n' \
				"$prov" "$kind" "$op" "$size" "$prov" "$kind" \
				"$op" "$size"
			broken=$((broken + 1))
			continue
		fi
		# "# medians: libwin A, raw B; per-round ratio: median R
		#  (quartiles Q1-Q3, 95% interval L-H) over N rounds;
		#  target <= T" (or >= T)
		echo "$line" | awk -v p="$prov" -v k="$kind" -v o="$op" \
			-v s="$size" '{
			gsub(/[,;()]/, " ")
			for (i = 1; i <= NF; i++) {
				if ($i == "libwin") lw = $(i + 1)
				if ($i == "raw") rw = $(i + 1)
				if ($i == "median") r = $(i + 1)
				if ($i == "quartiles") q = $(i + 1)
				if ($i == "interval") ci = $(i + 1)
				if ($i == "target") { c = $(i + 1); t = $(i + 2) }
			}
			ok = c == "<=" ? r <= t + 0 : r >= t + 0
			printf "%-8s %-4s %-4s %7s %12s %12s %7.3f %13s %13s " \
			       "%s\n", p, k, o, s, lw, rw, r, q, ci,
			       ok ? "met" : "MISSED (" c " " t ")"
			exit !ok
		}' || missed=$((missed + 1))
	done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$broken" -gt 0 ]; then
	echo "# $broken of $total measures gave no figures"
	exit 1
fi
if [ "$missed" -eq 0 ]; then
	echo "# all $total measures met"
else
	echo "# $missed of $total measures missed"
fi
exit 0
