#!/bin/bash
# The harness itself: the guest runs the Debian kernel the module is built
# for, the chroot sees the source and build trees, TMPDIR is a tmpfs, lo is
# up, and a libwin test program runs.
. "$SRCDIR/tests/guest/lib.sh"
set -u

echo "kernel: $(uname -r) (expected $KVER), host name $(hostname)"
[ "$(uname -r)" = "$KVER" ] || fail "guest kernel $(uname -r) is not $KVER"
[ -f "$SRCDIR/include/win.h" ] || fail "source tree not visible at $SRCDIR"
[ -f "$BUILDDIR/config.status" ] || fail "build tree not visible at $BUILDDIR"
[ "$(pwd)" = "$BUILDDIR" ] || fail "cwd is $(pwd), not $BUILDDIR"
fs=$(stat -f -c %T "$TMPDIR")
[ "$fs" = tmpfs ] || fail "TMPDIR=$TMPDIR is $fs, not tmpfs"
ip link show lo | grep -q 'state UNKNOWN\|state UP\|LOOPBACK,UP' ||
	fail "lo is not up: $(ip link show lo)"
[ -c /dev/null ] && [ -d /proc/self ] || fail "/dev or /proc missing in the chroot"
# Writes made in the guest reach the host's tree.
stamp=$BUILDDIR/tests/guest/work/smoke.stamp
echo "$KVER" >"$stamp" && [ "$(cat "$stamp")" = "$KVER" ] ||
	fail "cannot write to $stamp over 9p"
rm -f "$stamp"
run_check_programs -- unit/test-init
