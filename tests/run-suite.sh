#!/bin/sh
# Run the test suite once per transport, forcing it with WIN_TRANSPORTS.
# Usage: tests/run-suite.sh [BUILDDIR]   (default: the current directory)
# TRANSPORTS overrides the list (default: shm).
set -u
builddir=${1:-.}
transports=${TRANSPORTS:-shm}
status=0
for t in $transports; do
	echo "=== WIN_TRANSPORTS=$t"
	if ! WIN_TRANSPORTS=$t make -C "$builddir/tests" check; then
		status=1
		for log in "$builddir"/tests/unit/*.log "$builddir"/tests/mp/*.log; do
			[ -f "$log" ] || continue
			if grep -q '^FAIL\|^ERROR' "${log%.log}.trs" 2>/dev/null; then
				echo "--- $log"
				cat "$log"
			fi
		done
	fi
done
exit $status
