#!/bin/sh
# run-mpi-suite.sh: the MPI-3 RMA tests (tests/mpi/test-rma-*.c) in each
# configuration, with a summary per configuration:
#
#   ompi-plain    Open MPI alone (proves the tests right); its own osc/rdma
#                 crashes on MPI_Compare_and_swap with allocated windows on
#                 some hosts, so osc is limited to sm,pt2pt here
#   ompi-pmpi     Open MPI with libwin_pmpi.so preloaded
#   mpich-plain   MPICH alone
#   mpich-pmpi    MPICH with libwin_pmpi_mpich.so preloaded
#
# Each test is compiled by its MPI's wrapper (mpicc, mpicc.mpich) into
# mpi-suite/ under the current directory and run with MPI_SUITE_NP ranks
# (default 3) on this host only. Part of `make check`; exits 77 (skip) when
# Open MPI or the interposer is missing. A missing MPICH is reported and
# skipped. Environment: srcdir (tests/ sources), PMPI_DIR (where the
# libwin_pmpi*.so are), MPICC, MPIRUN, MPICH_CC, MPICH_RUN, MPI_SUITE_NP,
# MPI_SUITE_TIMEOUT (seconds per run, default 120).

set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${srcdir:+$srcdir/mpi}
src=${src:-$here}
[ -d "$src" ] || src=$here
pmpi_dir=${PMPI_DIR:-$(pwd)/../mpi-bindings/pmpi}
np=${MPI_SUITE_NP:-3}
tmo=${MPI_SUITE_TIMEOUT:-120}
out=$(pwd)/mpi-suite

say() {
	echo "$@"
	# the summary also reaches the terminal under make check (fd 9)
	{ echo "$@" >&9; } 2>/dev/null || true
}

find_prog() {
	for p in "$@"; do
		if command -v "$p" >/dev/null 2>&1; then
			command -v "$p"
			return 0
		fi
	done
	return 1
}

mpicc=${MPICC:-$(find_prog mpicc || true)}
mpirun=${MPIRUN:-$(find_prog mpirun || true)}
mpich_cc=${MPICH_CC:-$(find_prog mpicc.mpich || true)}
mpich_run=${MPICH_RUN:-$(find_prog mpirun.mpich mpiexec.mpich || true)}
# configure writes "no" for what it did not find
[ "$mpich_cc" = no ] && mpich_cc=
[ "$mpich_run" = no ] && mpich_run=

if [ -z "$mpicc" ] || [ -z "$mpirun" ] || [ "$mpicc" = no ]; then
	say "run-mpi-suite: SKIP: Open MPI (mpicc, mpirun) not found"
	exit 77
fi
pmpi_so=$pmpi_dir/libwin_pmpi.so
pmpi_mpich_so=$pmpi_dir/libwin_pmpi_mpich.so
if [ ! -f "$pmpi_so" ]; then
	say "run-mpi-suite: SKIP: $pmpi_so not built"
	exit 77
fi
pmpi_so=$(cd "$(dirname "$pmpi_so")" && pwd)/$(basename "$pmpi_so")
pmpi_mpich_so=$(cd "$(dirname "$pmpi_mpich_so")" && pwd)/$(basename "$pmpi_mpich_so")
# In a sanitizer build: the MPI libraries unload plugins whose allocations
# outlive them, and LeakSanitizer cannot name those frames.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# A sanitizer build of the interposer goes into programs that are not
# sanitized: its runtime has to be loaded first.
preload() {
	asan=$(ldd "$1" 2>/dev/null | awk '/libasan/ { print $3 }')
	echo "${asan:+$asan:}$1"
}

if [ "$(id -u)" = 0 ]; then
	OMPI_ALLOW_RUN_AS_ROOT=1
	OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fi

tests=$(cd "$src" && ls test-rma-*.c | sed 's/\.c$//')
mkdir -p "$out/ompi" "$out/mpich"

build() { # cc dir
	for t in $tests; do
		"$1" -O2 -Wall -o "$out/$2/$t" "$src/$t.c" \
			>"$out/$2/$t.build.log" 2>&1 || {
			echo "run-mpi-suite: building $t with $1 failed:"
			cat "$out/$2/$t.build.log"
			return 1
		}
	done
}

total_fail=0
run_config() { # name dir launcher...
	name=$1 dir=$2
	shift 2
	pass=0 fail=0 checks=0
	for t in $tests; do
		log=$out/$name-$t.log
		timeout "$tmo" "$@" "$out/$dir/$t" >"$log" 2>&1
		rc=$?
		line=$(grep "^$t: " "$log" | tail -n 1)
		n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) checks.*/\1/p')
		if [ $rc -eq 0 ] && [ -n "$line" ] &&
		   echo "$line" | grep -q ", 0 failures"; then
			pass=$((pass + 1))
			checks=$((checks + ${n:-0}))
			echo "  PASS $name $t: $line"
		else
			fail=$((fail + 1))
			echo "  FAIL $name $t (exit $rc), log $log:"
			tail -n 20 "$log" | sed 's/^/    /'
		fi
	done
	say "run-mpi-suite: $name: $pass passed, $fail failed, $checks checks ($np ranks)"
	total_fail=$((total_fail + fail))
}

ompi_run="$mpirun --oversubscribe -np $np --bind-to none --mca btl self,vader"
build "$mpicc" ompi || exit 1
run_config ompi-plain ompi $ompi_run --mca osc sm,pt2pt
run_config ompi-pmpi ompi $ompi_run -x LD_PRELOAD="$(preload "$pmpi_so")"

if [ -n "$mpich_cc" ] && [ -n "$mpich_run" ] && [ -f "$pmpi_mpich_so" ]; then
	build "$mpich_cc" mpich || exit 1
	run_config mpich-plain mpich "$mpich_run" -np "$np"
	run_config mpich-pmpi mpich "$mpich_run" -np "$np" \
		-env LD_PRELOAD "$(preload "$pmpi_mpich_so")"
else
	say "run-mpi-suite: mpich-pmpi: SKIP (mpicc.mpich, mpirun.mpich or" \
	    "libwin_pmpi_mpich.so missing)"
fi

[ $total_fail -eq 0 ]
