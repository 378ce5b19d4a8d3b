#!/bin/bash
# The RDMA device vanishes under a running program: two verbs-vanish
# processes loop put/get/fetch-op/flush over rxe0 with WIN_TRANSPORTS=verbs,
# then `rdma link delete rxe0` removes the device. Both must notice on their
# own, promptly (well inside the context's timeout), and exit with the
# program's "got an error" status (3) and an error naming the device; not
# by a signal, not by the safety-net timeout. rxe cannot disassociate user
# contexts, so the delete itself waits until both have closed the device.
# rxe0 is created again afterwards for any later part.
. "$SRCDIR/tests/guest/lib.sh"
set -u
prog=$BUILDDIR/tests/verbs/verbs-vanish
[ -x "$prog" ] || fail "$prog not built (make check builds it)"
setup_rxe || fail "could not set up rxe0"
export WIN_VERBS_DEVICE=rxe0 WIN_TRANSPORTS=verbs

bound=60        # seconds from the delete to both exits
out=$TMPDIR/vanish.$$
name=vanish.$$
pids=()
del=
# On failure: stop what is left (which lets a pending delete finish) and
# bring rxe0 back.
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	if [ -n "$del" ]; then
		wait "$del" 2>/dev/null
		setup_rxe >/dev/null
	fi
	rm -f "$out".*
}
trap cleanup EXIT

# The loop below is the safety net: it kills them (by pid) past the bound.
for r in 0 1; do
	"$prog" $name $r 600 >"$out.$r" 2>&1 &
	pids+=($!)
done
looping() { grep -q looping "$out.0" && grep -q looping "$out.1"; }
if ! wait_for 120 looping; then
	cat "$out.0" "$out.1"
	fail "the two processes did not start looping"
fi
sleep 2
t0=$(date +%s.%N)
echo "--- $(date +%T) rdma link delete rxe0 (both processes looping)"
timeout 200 rdma link delete rxe0 &
del=$!

# Both must exit on their own within the bound.
declare -A gone errat
while :; do
	now=$(date +%s.%N)
	el=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
	for i in 0 1; do
		if [ -z "${errat[$i]:-}" ] && grep -q 'error after' "$out.$i"; then
			errat[$i]=$el
			echo "rank $i printed its error ${el}s after the delete started"
		fi
		if [ -z "${gone[$i]:-}" ] && ! kill -0 "${pids[$i]}" 2>/dev/null; then
			gone[$i]=$el
			echo "rank $i exited ${el}s after the delete started"
		fi
	done
	[ -n "${gone[0]:-}" ] && [ -n "${gone[1]:-}" ] && break
	if awk -v e="$el" -v b=$bound 'BEGIN { exit !(e > b) }'; then
		cat "$out.0" "$out.1"
		fail "still running ${bound}s after rdma link delete rxe0"
	fi
	sleep 0.2
done
st=()
for i in 0 1; do
	wait "${pids[$i]}"
	st[i]=$?
done
pids=()
echo "--- rank 0 (status ${st[0]}):"
cat "$out.0"
echo "--- rank 1 (status ${st[1]}):"
cat "$out.1"

bad=
for i in 0 1; do
	s=${st[$i]}
	if [ "$s" -gt 128 ]; then
		bad+=" rank $i: killed by signal $((s - 128));"
	elif [ "$s" -eq 0 ]; then
		bad+=" rank $i: ran to the end without an error;"
	elif [ "$s" -ne 3 ]; then
		bad+=" rank $i: status $s;"
	elif ! grep 'error after' "$out.$i" | grep -q 'verbs.*rxe0'; then
		bad+=" rank $i: its error does not name verbs and rxe0;"
	fi
done

# The delete completes once both processes closed the device.
del_done() { ! kill -0 "$del" 2>/dev/null; }
if ! wait_for 30 del_done; then
	kill "$del" 2>/dev/null
	bad+=" rdma link delete rxe0 did not return after both exited;"
fi
wait "$del"
echo "rdma link delete rxe0: status $?"
del=
has_rxe0 && bad+=" rxe0 still listed after the delete;"

# Later parts (and anything else) get rxe0 back.
setup_rxe || bad+=" could not create rxe0 again;"
[ -z "$bad" ] || fail "$bad"
echo "verbs-vanish: both processes failed with the device's error" \
	"(${errat[0]:-?}s, ${errat[1]:-?}s after the delete started) and exited" \
	"(${gone[0]}s, ${gone[1]}s; bound ${bound}s)"
