#!/bin/sh
# Runs the libwin_mpi communicator test under one MPI: 2 and 4 ranks, every
# rank must print "ok". Usage: test-comm-run.sh openmpi|mpich
# Run from the build's tests/ directory (as `make check` does); the
# programs are in ../mpi-bindings. Skips (77) with the reason when that MPI
# or its build of the test is missing.
#
# Environment: TEST_COMM_NPROCS (default "2 4"), MPIRUN / MPICH_RUN.

impl=$1
# In a sanitizer build: the MPI libraries unload plugins whose allocations
# outlive them, and LeakSanitizer cannot name those frames. Leaks stay on
# for every test that does not start an MPI library.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
nprocs=${TEST_COMM_NPROCS:-"2 4"}
bindir=${TEST_COMM_DIR:-../mpi-bindings}

case $impl in
openmpi)
	run=${MPIRUN:-$(command -v mpirun 2>/dev/null)}
	prog=$bindir/test-comm-rma
	# As root Open MPI wants these; keep its traffic on the host.
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	flags="--oversubscribe --mca btl self,vader"
	what="Open MPI (mpirun)" ;;
mpich)
	run=${MPICH_RUN:-$(command -v mpirun.mpich 2>/dev/null)}
	prog=$bindir/test-comm-rma-mpich
	# Hydra on loopback only.
	flags="-launcher fork -iface lo"
	what="MPICH (mpirun.mpich)" ;;
*)
	echo "usage: $0 openmpi|mpich" >&2
	exit 99 ;;
esac

if [ -z "$run" ] || [ ! -x "$run" ]; then
	echo "SKIP: $what not found"
	exit 77
fi
if [ ! -x "$prog" ]; then
	echo "SKIP: $prog was not built (configure found no $what wrapper)"
	exit 77
fi

status=0
for n in $nprocs; do
	out=$(timeout 240 "$run" $flags -np "$n" "$prog" 2>&1)
	rc=$?
	oks=$(printf '%s\n' "$out" | grep -c ": ok$")
	printf '%s\n' "$out"
	if [ $rc -ne 0 ] || [ "$oks" -ne "$n" ]; then
		echo "FAIL: $what -np $n: exit $rc, $oks of $n ranks ok"
		status=1
	else
		echo "PASS: $what -np $n: $oks of $n ranks ok"
	fi
done
exit $status
