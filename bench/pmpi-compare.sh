#!/bin/sh
# pmpi-compare.sh: the same unmodified MPI-3 RMA benchmark (mpi_rma_bench)
# on Open MPI's own one-sided layer and on libwin through libwin_pmpi.so
# (LD_PRELOAD), in one invocation, with the ratio libwin_pmpi / Open MPI
# per operation and size, and the project's targets:
#   8-byte put, get, fetch_and_op latency (sync flush):
#       <= 1.0x Open MPI on allocated windows, <= 0.5x on created windows
#       (create: over memory from posix_memalign; create_mem: over memory
#       from MPI_Alloc_mem, which libwin_pmpi serves so peers can map it)
#   put and get bandwidth: >= 1.0x Open MPI
# Each (flavour, library) run is separate, so a failure loses only that
# part and is reported with its reason; no figure is made up. -R N makes N
# rounds of those runs, the two libraries alternating, and reports the
# median of the rounds' figures: on a small shared machine the placement
# of a run (which core, which cache neighbour) moves cache-sized
# bandwidth by up to 2x from one run to the next.
#
# Usage: bench/pmpi-compare.sh [-o put,get,fop] [-w allocate,create,create_mem]
#            [-k lat,bw] [-m 8:1M] [-r N] [-R N] [-i N] [-c FILE]
# Environment: MPI_RMA_BENCH, PMPI_SO (paths; default from the build tree
# around this script and the current directory), MPIRUN, OMPI_MCA_ARGS
# (extra mpirun arguments for both runs, e.g. "--mca osc sm"),
# COMPARE_TIMEOUT (seconds per run, default 900).

set -u
ops=put,get,fop
flavors=allocate,create,create_mem
kinds=lat,bw
sizes=8:1M
rounds=1
pass=
csv_out=
while getopts o:w:k:m:r:R:i:I:x:W:c:h opt; do
	case $opt in
	o) ops=$OPTARG ;;
	w) flavors=$OPTARG ;;
	k) kinds=$OPTARG ;;
	m) sizes=$OPTARG ;;
	R) rounds=$OPTARG ;;
	r|i|I|x|W) pass="$pass -$opt $OPTARG" ;;
	c) csv_out=$OPTARG ;;
	h) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done

case $rounds in
''|*[!0-9]*|0) echo "pmpi-compare: -R wants a positive number" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
pick() {
	for p in "$@"; do
		[ -f "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}
bench=${MPI_RMA_BENCH:-$(pick ./mpi_rma_bench "$here/mpi_rma_bench" \
	./bench/mpi_rma_bench || true)}
so=${PMPI_SO:-$(pick ../mpi-bindings/pmpi/libwin_pmpi.so \
	./mpi-bindings/pmpi/libwin_pmpi.so \
	"$here/../mpi-bindings/pmpi/libwin_pmpi.so" || true)}
mpirun=${MPIRUN:-mpirun}
tmo=${COMPARE_TIMEOUT:-900}
if [ -z "$bench" ] || [ -z "$so" ]; then
	echo "pmpi-compare: need mpi_rma_bench and libwin_pmpi.so (build with" \
	     "MPI; set MPI_RMA_BENCH, PMPI_SO)" >&2
	exit 1
fi
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")
if [ "$(id -u)" = 0 ]; then
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run="$mpirun -np 2 --oversubscribe --bind-to none --mca btl self,vader --mca pml ob1 ${OMPI_MCA_ARGS:-}"
round=0
while [ "$round" -lt "$rounds" ]; do
round=$((round + 1))
# Odd rounds run Open MPI first, even rounds libwin_pmpi.
order="ompi pmpi"
[ $((round % 2)) -eq 0 ] && order="pmpi ompi"
for f in $(echo "$flavors" | tr , ' '); do
	for lib in $order; do
		pre=
		[ $lib = pmpi ] && pre="-x LD_PRELOAD=$so"
		# shellcheck disable=SC2086
		timeout "$tmo" $run $pre "$bench" -o "$ops" -w "$f" -k "$kinds" \
			-m "$sizes" $pass --csv >"$tmp/$lib-$f.csv" \
			2>"$tmp/$lib-$f.err"
		rc=$?
		if [ $rc -ne 0 ]; then
			echo "# $lib, $f windows: unavailable (exit $rc):" \
			     "$(grep -v '^$' "$tmp/$lib-$f.err" | head -n 3 | tr '\n' ' ')"
		fi
		grep -v '^#' "$tmp/$lib-$f.csv" | grep -v '^impl,' |
			sed "s/^[^,]*,/$lib,/" >>"$tmp/all.csv"
	done
done
done
[ -n "$csv_out" ] && cp "$tmp/all.csv" "$csv_out"

echo "# mpi_rma_bench under Open MPI (osc chosen by Open MPI${OMPI_MCA_ARGS:+, $OMPI_MCA_ARGS}) and"
echo "# with LD_PRELOAD=$(basename "$so") (libwin), 2 ranks; medians (of $rounds alternated round(s)); ratio = libwin_pmpi / Open MPI"
awk -F, '
function median(s,    a, m, i, j, t) {
	m = split(s, a, " ")
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
{ key = $2 "," $3 "," $4 "," $5 "," $7; all[$1 "," key] = all[$1 "," key] " " $10; u[key] = $13
  if (!(key in seen)) { seen[key] = 1; order[n++] = key } }
END {
	for (ak in all)
		v[ak] = median(all[ak])
	last = ""
	for (i = 0; i < n; i++) {
		split(order[i], k, ",")
		head = k[1] " " k[2] ", sync " k[3] ", " k[4] " window"
		if (head != last) {
			printf "\n## %s (%s)\n%-10s %14s %14s %8s\n", head, u[order[i]], "Size", "Open MPI", "libwin_pmpi", "ratio"
			last = head
		}
		o = v["ompi," order[i]]; p = v["pmpi," order[i]]
		r = (o != "" && p != "" && o > 0) ? sprintf("%.2fx", p / o) : "-"
		printf "%-10s %14s %14s %8s\n", k[5], o == "" ? "n/a" : o, p == "" ? "n/a" : p, r
	}
	print "\n# Targets"
	split("put get fop", ops, " ")
	split("allocate create create_mem", fls, " ")
	for (f = 1; f <= 3; f++) {
		fl = fls[f]; lim = f == 1 ? 1.0 : 0.5
		for (j = 1; j <= 3; j++) {
			key = "lat," ops[j] ",flush," fl ",8"
			if (ops[j] == "fop") {
				# fetch_op rows carry the element size
				for (kk in seen) { split(kk, z, ","); if (z[1] == "lat" && z[2] == "fop" && z[4] == fl) key = kk }
			}
			o = v["ompi," key]; p = v["pmpi," key]
			if (o == "" || p == "") { printf "%-34s n/a\n", ops[j] " 8 B latency, " fl " <= " lim "x"; continue }
			printf "%-34s %.2fx  %s\n", ops[j] " 8 B latency, " fl " <= " lim "x", p / o, (p / o <= lim) ? "met" : "NOT met"
		}
		for (j = 1; j <= 2; j++) {
			worst = ""; at = ""
			for (kk in seen) { split(kk, z, ","); if (z[1] == "bw" && z[2] == ops[j] && z[4] == fl) {
				o = v["ompi," kk]; p = v["pmpi," kk]
				if (o != "" && p != "" && o > 0 && (worst == "" || p / o < worst)) { worst = p / o; at = z[5] } } }
			if (worst == "") printf "%-34s n/a\n", ops[j] " bandwidth, " fl " >= 1.0x"
			else printf "%-34s worst %.2fx at %s B  %s\n", ops[j] " bandwidth, " fl " >= 1.0x", worst, at, (worst >= 1.0) ? "met" : "NOT met"
		}
	}
}' "$tmp/all.csv"
