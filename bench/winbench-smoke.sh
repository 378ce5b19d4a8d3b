#!/bin/sh
# Short winbench run over every sync mode, every window flavour and every
# operation, then puts and gets again with -N (requests); fails if winbench
# fails or a data check reports a mismatch.
WINBENCH=${WINBENCH:-./winbench}
out=${TMPDIR:-/tmp}/winbench-smoke.$$
trap 'rm -f "$out"' EXIT INT TERM

$WINBENCH -s all -w all -o all -m 1:64K -i 200 -x 10 -r 1 -M --csv \
	>"$out" || { cat "$out"; echo "winbench failed" >&2; exit 1; }
if grep -q MISMATCH "$out"; then
	cat "$out"
	echo "winbench: data check failed" >&2
	exit 1
fi
# 3 flavours (allocate, create, create_mem) x (5 modes x (put, get
# latency and bandwidth: 4 x 17 sizes, plus 3 atomics) + pingpong put
# latency: 14 sizes of 8 B and more) result rows.
rows=$(grep -c '^libwin,' "$out")
if [ "$rows" -ne 1107 ]; then
	cat "$out"
	echo "winbench: expected 1107 result rows, got $rows" >&2
	exit 1
fi
# -N: the same puts and gets as requests, completed at synchronization.
$WINBENCH -N -s flush,lock,lock_all,fence,pscw -w all -o put,get -m 8:64K \
	-i 200 -x 10 -r 1 -M --csv >"$out" ||
	{ cat "$out"; echo "winbench -N failed" >&2; exit 1; }
if grep -q MISMATCH "$out" || ! grep -q '^libwin,' "$out"; then
	cat "$out"
	echo "winbench -N: data check failed or no rows" >&2
	exit 1
fi
exit 0
