#!/bin/bash
# The kshim module on its own: load it, run the module-level tests
# (tests/kshim/test-kshim-*, built by `make check` or
# `make -C tests $KSHIM_TESTS`), compare the module's counters and
# /proc/meminfo before and after, look for kernel warnings, unload it.
# Environment: KSHIM_FUZZ_SECONDS (fuzz test length, default 20).
. "$SRCDIR/tests/guest/lib.sh"
set -u

progs="test-kshim-ioctl test-kshim-access test-kshim-register test-kshim-cleanup"
for p in $progs; do
	[ -x "$BUILDDIR/tests/kshim/$p" ] ||
		skip "tests/kshim/$p not built (run: make -C $BUILDDIR/tests kshim/$p)"
done

# a fresh module for every run
unload_kshim || fail "kshim already loaded and busy"
dmesg_mark=$(dmesg | wc -l)
mem_before=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
load_kshim || fail "kshim did not load"
[ "$(stat -c %a /dev/kshim)" = 666 ] || fail "/dev/kshim mode is $(stat -c %a /dev/kshim), not 666"

failed=""
for p in $progs; do
	echo "--- kshim/$p"
	t0=$(date +%s)
	(cd "$BUILDDIR/tests/kshim" && exec "./$p") </dev/null 2>&1
	rc=$?
	echo "--- kshim/$p: $([ $rc -eq 0 ] && echo PASS || echo "FAIL (status $rc)") $(($(date +%s) - t0))s"
	[ $rc -eq 0 ] || failed="$failed $p"
done

# every page the module held is back: pools, pins, windows, ports
echo "module parameters: $(for f in /sys/module/kshim/parameters/*; do printf '%s=%s ' "${f##*/}" "$(cat "$f")"; done)"
if ! unload_kshim; then
	failed="$failed rmmod"
fi
grep -q '^kshim ' /proc/modules && failed="$failed still-loaded"
mem_after=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
echo "MemAvailable before load ${mem_before} kB, after unload ${mem_after} kB"
# pages the module leaked would show as a large drop (page cache noise is small)
if [ $((mem_before - mem_after)) -gt 65536 ]; then
	failed="$failed meminfo"
fi

new_dmesg=$(dmesg | tail -n +$((dmesg_mark + 1)))
echo "$new_dmesg" | grep -i kshim
if echo "$new_dmesg" | grep -Eq 'BUG|WARNING|Oops|general protection|RIP:|Call Trace|refcount_t|list_add corruption|bad page'; then
	echo "kernel log since the module was loaded:"
	echo "$new_dmesg" | tail -n 80
	failed="$failed dmesg"
else
	echo "dmesg: no BUG/WARNING/Oops since the module was loaded"
fi

[ -z "$failed" ] || fail "kshim module:$failed"
echo "kshim module: all tests passed, module unloaded cleanly"
