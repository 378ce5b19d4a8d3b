#!/bin/bash
# kshim against shm, process_vm_writev/readv and memcpy, 8 B .. 64 MiB,
# and staged (page-swap) put against copy put (bench/kshimbench). Not part
# of `make check`: run with tests/guest/run-guest.sh kshim-bench.
# KSHIMBENCH_MAX (bytes, default 64 MiB) and KSHIMBENCH_SECS (seconds per
# point, default 0.05) bound the run.
. "$SRCDIR/tests/guest/lib.sh"
set -u
[ -x ./bench/kshimbench ] || skip "bench/kshimbench not built in $BUILDDIR"
load_kshim || fail "the kshim module did not load"
max=${KSHIMBENCH_MAX:-67108864}
secs=${KSHIMBENCH_SECS:-0.05}
# Pools big enough for a max-size window plus staging.
echo 'module limits:'
grep -H . /sys/module/kshim/parameters/* 2>/dev/null
ulimit -l unlimited 2>/dev/null
echo "--- ./bench/kshimbench -M $max -t $secs"
./bench/kshimbench -M "$max" -t "$secs" || fail "kshimbench failed"
