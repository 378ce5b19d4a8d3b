#!/bin/bash
# The verbs transport on Soft-RoCE (rxe0): wininfo's description, the
# verbs-peer checks between two processes, then the whole Check suite
# (unit/ and mp/) with WIN_TRANSPORTS=verbs.
# VERBS_SUITE_SKIP_PEER=1 skips the verbs-peer run.
. "$SRCDIR/tests/guest/lib.sh"
set -u
setup_rxe || fail "could not set up rxe0"
export WIN_VERBS_DEVICE=rxe0

echo "--- wininfo (WIN_TRANSPORTS=verbs)"
WIN_TRANSPORTS=verbs timeout 60 "$BUILDDIR/tools/wininfo" ||
	fail "wininfo: the verbs transport does not open on rxe0"

[ "${VERBS_SUITE_SKIP_PEER:-0}" = 1 ] || {
peer=$BUILDDIR/tests/verbs/verbs-peer
[ -x "$peer" ] || fail "$peer not built (make check builds it)"
echo "--- verbs-peer, 2 processes"
name=vpeer.$$
WIN_TRANSPORTS=verbs timeout 120 "$peer" $name 0 2 &
p0=$!
WIN_TRANSPORTS=verbs timeout 120 "$peer" $name 1 2
s1=$?
wait $p0
s0=$?
[ $s0 -eq 0 ] && [ $s1 -eq 0 ] ||
	fail "verbs-peer: statuses $s0 and $s1"
}

# VERBS_SUITE_PROGRAMS (run-guest.sh -e) narrows the suite to some programs.
# shellcheck disable=SC2086
run_check_programs WIN_TRANSPORTS=verbs WIN_VERBS_DEVICE=rxe0 -- \
	${VERBS_SUITE_PROGRAMS:-}
