#!/bin/bash
# kshim against shm, process_vm_writev/readv and memcpy, 8 B .. 64 MiB,
# and staged (page-swap) put against copy put (bench/kshimbench). Not part
# of `make check`: run with tests/guest/run-guest.sh kshim-bench.
# KSHIMBENCH_MAX (bytes, default 64 MiB) and KSHIMBENCH_SECS (seconds per
# point, default 0.05) bound the run.
. "$SRCDIR/tests/guest/lib.sh"
set -u
# A benchmark, not a test: under `make check` (every part at once) it
# stays out unless KSHIMBENCH=1 is passed (run-guest.sh -e KSHIMBENCH=1).
[ "${GUEST_PARTS:-kshim-bench}" = kshim-bench ] || [ "${KSHIMBENCH:-}" = 1 ] ||
	skip "benchmark: run it alone (run-guest.sh kshim-bench)"
[ -f "$BUILDDIR/kshim/kshim.ko" ] || skip "kshim module not built"
[ -x ./bench/kshimbench ] || skip "bench/kshimbench not built in $BUILDDIR"
# Pools big enough for a 64 MiB window plus a staging area of 64 MiB (a
# quarter of the pool): reload the module with a larger per-port cap.
unload_kshim || fail "the kshim module is in use"
insmod "$BUILDDIR/kshim/kshim.ko" max_pool_pages=131072 max_total_pool_pages=262144 ||
	fail "insmod kshim.ko with larger pools failed"
load_kshim || fail "the kshim module did not load"
max=${KSHIMBENCH_MAX:-67108864}
secs=${KSHIMBENCH_SECS:-0.05}
echo 'module limits:'
grep -H . /sys/module/kshim/parameters/* 2>/dev/null
ulimit -l unlimited 2>/dev/null
echo "--- ./bench/kshimbench -M $max -t $secs"
./bench/kshimbench -M "$max" -t "$secs" || fail "kshimbench failed"
