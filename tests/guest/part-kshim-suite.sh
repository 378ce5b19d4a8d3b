#!/bin/bash
# The whole Check suite (unit/ and mp/) on the kshim transport, in the
# guest with the module loaded; then, with no WIN_TRANSPORTS, same-host
# peers must be given kshim by default (wininfo lists it as opened).
. "$SRCDIR/tests/guest/lib.sh"
set -u
load_kshim || fail "the kshim module did not load"

rc=0
# KSHIM_SUITE_PROGS (space separated, e.g. "mp/test-mp-putget") limits the
# run to those programs; default: all of them.
# shellcheck disable=SC2086
run_check_programs WIN_TRANSPORTS=kshim -- ${KSHIM_SUITE_PROGS:-} || rc=1

echo "--- wininfo (default transports)"
out=$(./tools/wininfo 2>&1)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -A1 '^transport kshim: available' | grep -q 'ABI 1\.' ||
	{ echo "FAIL: wininfo does not describe an opened kshim"; rc=1; }

echo "--- default choice for a same-host peer"
which=$(./bench/kshimbench --which 2>&1)
printf '%s\n' "$which"
for fl in allocate create; do
	printf '%s\n' "$which" | grep -qx "$fl: rank 1 via kshim" ||
		{ echo "FAIL: $fl window: the same-host peer is not on kshim"; rc=1; }
done

# With the module gone, the default must fall back to shm.
if unload_kshim; then
	which=$(./bench/kshimbench --which 2>&1)
	printf '%s\n' "$which"
	printf '%s\n' "$which" | grep -qx "allocate: rank 1 via shm" ||
		{ echo "FAIL: without the module the peer is not on shm"; rc=1; }
	WIN_TRANSPORTS=kshim ./tools/wininfo 2>&1 | tail -n 5
else
	echo "FAIL: the module could not be unloaded after the suite (still in use?)"
	rc=1
fi
exit $rc
