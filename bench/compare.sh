#!/bin/sh
# compare.sh: libwin against Open MPI's own one-sided layer, side by side.
#
# Runs winbench (libwin, forked processes on the default single-host
# transport) and mpi_rma_bench (the same loops over MPI-3 RMA, under
# mpirun -np 2 on this host only) with the same parameters, then prints per
# message size the libwin figure, the Open MPI figure and their ratio, and
# the project's targets against the measured numbers.
#
# Open MPI is run once per window flavour and operation, so that a failure
# loses only that part; for allocated windows it runs twice: with the
# component Open MPI picks itself, and with osc/sm forced (--mca osc sm).
# Whatever fails is reported as unavailable with the reason; no figure is
# ever made up.

set -u

usage() {
	cat <<EOF
Usage: $0 [options]
  -o LIST     operations (default put,get,fop,cas,acc)
  -s LIST     sync modes: flush,lock,lock_all,fence,pscw or all
              (default flush)
  -w LIST     window flavours (default allocate,create)
  -k LIST     lat,bw (default lat,bw)
  -m MIN:MAX  put/get sizes (default 1:4M)
  -i N -x N -I N -X N -r N -W N
              iterations, warm-up, large-message iterations and warm-up,
              repetitions, ops in flight: passed to both benchmarks
  -S          do not add the forced osc/sm run for allocated windows
  -c FILE     also write all results as one CSV file
  -h          this help
Environment: WINBENCH, MPI_RMA_BENCH (paths of the two programs; default
next to this script, then the current directory), MPIRUN (default mpirun
from PATH), OMPI_MCA_ARGS (extra mpirun arguments, e.g. "--mca osc rdma"),
COMPARE_TIMEOUT (seconds allowed to each run, default 900).
EOF
}

ops=put,get,fop,cas,acc
syncs=flush
flavors=allocate,create
kinds=lat,bw
sizes=1:4M
pass=
with_sm=1
csv_out=

while getopts o:s:w:k:m:i:x:I:X:r:W:Sc:h opt; do
	case $opt in
	o) ops=$OPTARG ;;
	s) syncs=$OPTARG ;;
	w) flavors=$OPTARG ;;
	k) kinds=$OPTARG ;;
	m) sizes=$OPTARG ;;
	i|x|I|X|r|W) pass="$pass -$opt $OPTARG" ;;
	S) with_sm=0 ;;
	c) csv_out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
	usage >&2
	exit 2
fi
[ "$ops" = all ] && ops=put,get,fop,cas,acc
[ "$syncs" = all ] && syncs=flush,lock,lock_all,fence,pscw
[ "$flavors" = all ] && flavors=allocate,create
[ "$kinds" = all ] && kinds=lat,bw

here=$(cd "$(dirname "$0")" && pwd)
find_prog() {
	for p in "$here/$1" "./$1" "$here/../bench/$1"; do
		if [ -x "$p" ]; then
			echo "$p"
			return
		fi
	done
	command -v "$1" 2>/dev/null || echo "$1"
}
WINBENCH=${WINBENCH:-$(find_prog winbench)}
MPI_RMA_BENCH=${MPI_RMA_BENCH:-$(find_prog mpi_rma_bench)}
MPIRUN=${MPIRUN:-$(command -v mpirun 2>/dev/null || echo mpirun)}
OMPI_MCA_ARGS=${OMPI_MCA_ARGS:-}

# Open MPI refuses to start as root without these.
if [ "$(id -u)" = 0 ]; then
	OMPI_ALLOW_RUN_AS_ROOT=1
	OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fi

# This host only: shared memory between the two ranks (btl self,vader,
# pml ob1: no network transport), the launcher's own channel on loopback.
MPI_BASE="-np 2 --oversubscribe --bind-to none --mca btl self,vader"
MPI_BASE="$MPI_BASE --mca pml ob1 --mca oob_tcp_if_include lo"

# Bound every run, so that a hung run cannot stall the comparison.
limit=${COMPARE_TIMEOUT:-900}
tmo=
command -v timeout >/dev/null 2>&1 && tmo="timeout -k 10 $limit"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/winbench-compare.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
: >"$tmp/rows"
: >"$tmp/fail"
: >"$tmp/cfg"

# The reason of a failed run: the most telling line of its messages.
reason() {
	pat='exited on signal|Signal:|[Ee]rror|failed|[Aa]bort|not found'
	pat="$pat|No such|refused|denied"
	r=$(grep -m1 -E "$pat" "$1" |
		sed -e 's/^\[[^]]*\] *//' -e 's/\*\*\* *//g' | cut -c1-150)
	[ -n "$r" ] ||
		r=$(grep -v -e '^ *$' -e '^--' "$1" | tail -n 1 | cut -c1-150)
	[ "$2" = 124 ] && [ -n "$tmo" ] && r="timed out after $limit s; $r"
	[ -n "$r" ] || r="exit status $2, no message"
	echo "$r"
}

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
echo "# libwin vs Open MPI one-sided, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# host $(hostname), nproc $(nproc), CPU: ${cpu:-unknown}"
echo "# parameters: -o $ops -s $syncs -w $flavors -k $kinds -m $sizes$pass"
echo "# medians of the repetitions; latency in us (lower is better),"
echo "# bandwidth in MB/s = 10^6 B/s (higher is better);"
echo "# ratio = libwin / Open MPI"

# --- libwin ---------------------------------------------------------------
args="-o $ops -s $syncs -k $kinds -m $sizes$pass"
echo "# libwin:   $WINBENCH $args -w $flavors --csv"
# shellcheck disable=SC2086
$tmo "$WINBENCH" -o "$ops" -s "$syncs" -w "$flavors" -k "$kinds" -m "$sizes" \
	$pass --csv >"$tmp/libwin.csv" 2>"$tmp/libwin.err"
st=$?
grep -v -e '^#' -e '^impl,' "$tmp/libwin.csv" >>"$tmp/rows"
if [ $st -ne 0 ]; then
	r=$(reason "$tmp/libwin.err" $st)
	echo "libwin|*|*|$r" >>"$tmp/fail"
	echo "# libwin:   FAILED (exit $st): $r"
	sed 's/^/#   /' "$tmp/libwin.err" | head -n 20
fi
grep '^# group' "$tmp/libwin.csv" | sed 's/^#/# libwin:  /'

# --- Open MPI -------------------------------------------------------------
have_mpi=1
if ! command -v "$MPIRUN" >/dev/null 2>&1; then
	have_mpi=0
	echo "ompi|*|*|mpirun not found ($MPIRUN)" >>"$tmp/fail"
	echo "# Open MPI: unavailable: mpirun not found ($MPIRUN)"
elif [ ! -x "$MPI_RMA_BENCH" ]; then
	have_mpi=0
	echo "ompi|*|*|mpi_rma_bench not built ($MPI_RMA_BENCH)" >>"$tmp/fail"
	echo "# Open MPI: unavailable: mpi_rma_bench not built ($MPI_RMA_BENCH)"
else
	echo "# Open MPI: $("$MPIRUN" --version 2>/dev/null | head -n 1)"
fi

run_ompi() {	# label flavour op mca-args
	label=$1 fl=$2 op=$3 mca=$4
	out="$tmp/$label-$fl-$op"
	# memcpy is measured once, with put: the fallback if libwin fails.
	nomc=-M
	[ "$op" = put ] && nomc=
	# shellcheck disable=SC2086
	$tmo "$MPIRUN" $MPI_BASE $mca $OMPI_MCA_ARGS "$MPI_RMA_BENCH" -o "$op" \
		-s "$syncs" -w "$fl" -k "$kinds" -m "$sizes" $pass $nomc \
		--csv >"$out.csv" 2>"$out.err" </dev/null
	st=$?
	grep -v -e '^#' -e '^impl,' "$out.csv" |
		sed "s/^[^,]*,/$label,/" >>"$tmp/rows"
	if [ $st -ne 0 ]; then
		echo "$label|$fl|$op|$(reason "$out.err" $st)" >>"$tmp/fail"
	fi
}

if [ $have_mpi = 1 ]; then
	for fl in $(echo "$flavors" | tr , ' '); do
		cfgs="ompi"
		[ "$fl" = allocate ] && [ $with_sm = 1 ] && cfgs="ompi ompi-sm"
		for label in $cfgs; do
			mca=
			[ $label = ompi-sm ] && mca="--mca osc sm"
			cmd="$MPIRUN $MPI_BASE${mca:+ $mca}"
			cmd="$cmd${OMPI_MCA_ARGS:+ $OMPI_MCA_ARGS}"
			cmd="$cmd mpi_rma_bench $args -w $fl --csv"
			echo "$label|$fl|$cmd (one run per op)" >>"$tmp/cfg"
			for op in $(echo "$ops" | tr , ' '); do
				run_ompi "$label" "$fl" "$op" "$mca"
			done
		done
	done
	while IFS='|' read -r label fl cmd; do
		echo "# Open MPI ($label, $fl): $cmd"
	done <"$tmp/cfg"
fi

[ -n "$csv_out" ] && {
	printf '%s' "cfg,kind,op,sync,flavor,transport,size,iters,reps,"
	echo "median,min,max,unit,memcpy_us,memcpy_mbps,verified"
	cat "$tmp/rows"
} >"$csv_out"

# --- Tables and targets ---------------------------------------------------
awk -F, -v ops="$ops" -v syncs="$syncs" -v flavors="$flavors" \
	-v kinds="$kinds" -v with_sm="$with_sm" -v failfile="$tmp/fail" '
function fmtv(v, kind) {
	if (v == "")
		return "n/a"
	return sprintf(kind == "lat" ? "%.3f" : "%.1f", v)
}
function ratio(a, b) {
	if (a == "" || b == "" || b + 0 == 0)
		return "n/a"
	return sprintf("%.3f", a / b)
}
function failof(cfg, fl, op,    k) {
	k = cfg SUBSEP fl SUBSEP op
	if (k in fail)
		return fail[k]
	k = cfg SUBSEP "*" SUBSEP "*"
	if (k in fail)
		return fail[k]
	return ""
}
function cfgname(c, fl) {
	if (c == "libwin")
		return "libwin"
	if (c == "ompi-sm")
		return "OMPI --mca osc sm"
	return "OMPI (its choice)"
}
BEGIN {
	while ((getline line < failfile) > 0) {
		split(line, ff, "|")
		fail[ff[1], ff[2], ff[3]] = ff[4]
		if (ff[1] == "ompi" && ff[2] == "*")
			fail["ompi-sm", "*", "*"] = ff[4]
	}
	nops = split(ops, OPS, ",")
	nsyncs = split(syncs, SYNCS, ",")
	nfl = split(flavors, FLS, ",")
	nkinds = split(kinds, KINDS, ",")
	title["put"] = "put"; title["get"] = "get"
	title["fop"] = "fetch_op (int64 sum)"
	title["cas"] = "compare_swap (int64)"
	title["acc"] = "accumulate (int64 sum)"
}
/^#/ || /^impl,/ || NF < 16 { next }
{
	key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4 SUBSEP $5 SUBSEP $7
	med[key] = $10
	if ($16 == "MISMATCH")
		bad[key] = 1
	tr[$1, $5] = $6
	if (!(($2, $3, $7) in seen)) {
		seen[$2, $3, $7] = 1
		n = ++nsz[$2, $3]
		sz[$2, $3, n] = $7 + 0
	}
	# memcpy reference: from the libwin run, else from an MPI run.
	if ($2 == "bw" && $15 + 0 > 0 && ($1 == "libwin" || !($7 in mc)))
		mc[$7] = $15
}
function sorted(kind, op,    n, i, j, t) {
	n = nsz[kind, op] + 0
	for (i = 2; i <= n; i++) {
		j = i
		while (j > 1 && sz[kind, op, j - 1] > sz[kind, op, j]) {
			t = sz[kind, op, j]
			sz[kind, op, j] = sz[kind, op, j - 1]
			sz[kind, op, j - 1] = t
			j--
		}
	}
	return n
}
function table(fl, sy, kind, op,    cfgs, nc, c, i, n, s, lw, v, hdr,
	       line, k, why, mark, nm) {
	nc = 0
	cfgs[++nc] = "libwin"
	cfgs[++nc] = "ompi"
	if (fl == "allocate" && with_sm == 1)
		cfgs[++nc] = "ompi-sm"
	printf "\n== %s %s, sync %s, window %s ==\n", title[op],
		kind == "lat" ? "latency (us)" : "bandwidth (MB/s)", sy, fl
	for (c = 1; c <= nc; c++) {
		why = failof(cfgs[c], fl, op)
		printf "#   %-18s %s%s\n", cfgname(cfgs[c]) ":",
			((cfgs[c], fl) in tr) ? tr[cfgs[c], fl] : "-",
			why != "" ? "   UNAVAILABLE: " why : ""
	}
	hdr = sprintf("%-9s %12s", "# Size", "libwin")
	for (c = 2; c <= nc; c++) {
		nm = (cfgs[c] == "ompi-sm") ? "OMPI osc/sm" : "OMPI"
		hdr = hdr sprintf(" %12s %8s", nm, "ratio")
	}
	if (kind == "bw")
		hdr = hdr sprintf(" %12s %8s", "memcpy", "lw/mcpy")
	print hdr
	n = sorted(kind, op)
	for (i = 1; i <= n; i++) {
		s = sz[kind, op, i]
		k = "libwin" SUBSEP kind SUBSEP op SUBSEP sy SUBSEP fl SUBSEP s
		lw = (k in med) ? med[k] : ""
		mark = (k in bad) ? "!" : " "
		line = sprintf("%-9s %12s%s", s, fmtv(lw, kind), mark)
		for (c = 2; c <= nc; c++) {
			k = cfgs[c] SUBSEP kind SUBSEP op SUBSEP sy SUBSEP fl \
				SUBSEP s
			v = (k in med) ? med[k] : ""
			line = line sprintf("%12s %8s", fmtv(v, kind),
					    ratio(lw, v))
		}
		if (kind == "bw")
			line = line sprintf(" %12s %8s",
					    fmtv((s in mc) ? mc[s] : "", kind),
					    ratio(lw, (s in mc) ? mc[s] : ""))
		print line
	}
}
function target(desc, lw, v, limit, le,    r, verdict) {
	if (lw == "" || v == "" || v + 0 == 0) {
		printf "  %-58s n/a\n", desc
		return
	}
	r = lw / v
	verdict = (le ? r <= limit : r >= limit) ? "MET" : "NOT MET"
	printf "  %-58s %.3f  (%s %.2f) %s\n", desc, r, le ? "<=" : ">=",
		limit, verdict
}
function get(c, kind, op, sy, fl, s,    k) {
	k = c SUBSEP kind SUBSEP op SUBSEP sy SUBSEP fl SUBSEP s
	return (k in med) ? med[k] : ""
}
END {
	for (f = 1; f <= nfl; f++)
		for (y = 1; y <= nsyncs; y++)
			for (kk = 1; kk <= nkinds; kk++)
				for (o = 1; o <= nops; o++) {
					if (KINDS[kk] == "bw" &&
					    OPS[o] != "put" && OPS[o] != "get")
						continue
					table(FLS[f], SYNCS[y], KINDS[kk],
					      OPS[o])
				}
	for (k in bad) {
		print "\n! libwin data check failed on the rows marked !"
		break
	}

	print "\n== Targets (sync flush) =="
	for (c = 1; c <= 2; c++) {
		cf = c == 1 ? "ompi" : "ompi-sm"
		if (cf == "ompi-sm" && with_sm != 1)
			continue
		nm = cf == "ompi" ? "OMPI " tr["ompi", "allocate"] : \
			"OMPI osc/sm"
		if (nm == "OMPI ")
			nm = "OMPI (its choice)"
		target("8 B put+flush, allocated window, libwin / " nm,
		       get("libwin", "lat", "put", "flush", "allocate", 8),
		       get(cf, "lat", "put", "flush", "allocate", 8), 1.0, 1)
		target("8 B fetch_op, allocated window, libwin / " nm,
		       get("libwin", "lat", "fop", "flush", "allocate", 8),
		       get(cf, "lat", "fop", "flush", "allocate", 8), 1.0, 1)
	}
	for (f = 1; f <= nfl; f++)
		target("4 MiB put bandwidth, " FLS[f] " window / memcpy",
		       get("libwin", "bw", "put", "flush", FLS[f], 4194304),
		       (4194304 in mc) ? mc[4194304] : "", 0.9, 0)
}' "$tmp/rows"

# Failures, in full.
if [ -s "$tmp/fail" ]; then
	echo
	echo "== Unavailable =="
	while IFS='|' read -r label fl op why; do
		echo "  $label, window $fl, op $op: $why"
	done <"$tmp/fail"
fi
exit 0
