#!/bin/bash
# Soft-RoCE works in this guest: rxe0 on a dummy device, and a perftest
# RDMA write latency run between two processes over it.
. "$SRCDIR/tests/guest/lib.sh"
set -u
need_cmd ib_write_lat perftest
setup_rxe || fail "could not set up rxe0"

out=$TMPDIR/rxe-part.$$
timeout 120 ib_write_lat -d rxe0 -x 1 -n 200 >"$out.server" 2>&1 &
server=$!
# The client fails if the server is not listening yet: retry a few times.
ok=no
for try in 1 2 3 4 5 6 7 8 9 10; do
	sleep 1
	if timeout 120 ib_write_lat -d rxe0 -x 1 -n 200 169.254.77.1 >"$out.client" 2>&1; then
		ok=yes
		break
	fi
	kill -0 $server 2>/dev/null || break
done
wait $server
srv=$?
echo "--- ib_write_lat server (status $srv):"
cat "$out.server"
echo "--- ib_write_lat client ($ok, after $try tries):"
cat "$out.client"
[ $ok = yes ] || fail "ib_write_lat client did not complete"
[ $srv -eq 0 ] || fail "ib_write_lat server exited with status $srv"
# A result row: bytes, iterations, then latencies.
row=$(grep -E '^ *2 +200 +[0-9.]+' "$out.client") ||
	fail "no 2-byte result row in the client's output"
echo "rxe ib_write_lat 2 B: typical $(echo "$row" | awk '{ print $5 }') us (t_typical column)"
rm -f "$out.server" "$out.client"
