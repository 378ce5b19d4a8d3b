#!/bin/sh
# Launch test: mpirun (Open MPI's ORTE, a PMIx server) starts the plain
# libwin program launch/launch-rma with 2 and then 4 ranks, then 4 ranks
# posing as two hosts; each rank forms its group from PMIx and checks
# put/get/locks/atomics. Every rank must say "ok". Skips (77) with the reason when mpirun or PMIx is missing.
#
# Environment: MPIRUN (default: mpirun on PATH), LAUNCH_RMA (the program),
# LAUNCH_NPROCS (default "2 4").

prog=${LAUNCH_RMA:-launch/launch-rma}
mpirun=${MPIRUN:-$(command -v mpirun 2>/dev/null)}
nprocs=${LAUNCH_NPROCS:-"2 4"}

if [ -z "$mpirun" ] || [ "$mpirun" = no ] || [ ! -x "$mpirun" ]; then
	echo "SKIP: no mpirun (Open MPI) found to launch with"
	exit 77
fi
if [ ! -x "$prog" ]; then
	echo "SKIP: $prog was not built"
	exit 77
fi
# Outside a launch the program reports why the launcher group is refused.
probe=$(timeout 30 "$prog" 2>&1)
case $probe in
*"without PMIx"*)
	echo "SKIP: libwin was built without PMIx: $probe"
	exit 77 ;;
unsupported:*) ;;
*)
	echo "FAIL: outside a launch: $probe"
	exit 1 ;;
esac

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
# The last run pretends the ranks are on two hosts (by rank parity).
for run in $nprocs hosts; do
	n=$run hosts=
	[ "$run" = hosts ] && n=4 hosts=2
	out=$(LAUNCH_RMA_SIZE=$n LAUNCH_RMA_HOSTS=$hosts timeout 180 \
		"$mpirun" --oversubscribe --mca btl self,vader \
		-x LAUNCH_RMA_SIZE ${hosts:+-x LAUNCH_RMA_HOSTS} \
		-np "$n" "$prog" 2>&1)
	rc=$?
	oks=$(printf '%s\n' "$out" | grep -c ": ok$")
	printf '%s\n' "$out"
	what="mpirun -np $n${hosts:+ (two hosts)}"
	if [ $rc -ne 0 ] || [ "$oks" -ne "$n" ]; then
		echo "FAIL: $what: exit $rc, $oks of $n ranks ok"
		status=1
	else
		echo "PASS: $what: $oks of $n ranks ok"
	fi
done
exit $status
