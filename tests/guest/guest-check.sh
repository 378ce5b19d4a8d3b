#!/bin/bash
# guest-check.sh - the automake test that runs the in-guest parts.
# Runs tests/guest/run-guest.sh with every part-*.sh of the source tree
# except those marked '# guest-check: manual', or
# the parts listed in GUEST_PARTS (space separated). LIBWIN_GUEST=skip skips
# it; GUEST_TIMEOUT sets the guest's timeout in seconds (default 300 plus
# 900 per part: each part is also killed after 900 s inside the guest, or
# after the "# guest-part-timeout: N" it declares).
# The guest's console goes to the test log and, through file descriptor 9
# (the terminal under `make check`), to the terminal.
set -u
if [ "${LIBWIN_GUEST:-}" = skip ]; then
	echo "SKIP: in-guest tests disabled by LIBWIN_GUEST=skip"
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
builddir=${LIBWIN_BUILDDIR:-$(cd .. && pwd)}
[ -f "$builddir/config.status" ] || {
	echo "guest-check: no build directory at $builddir (run it from BUILDDIR/tests or set LIBWIN_BUILDDIR)"
	exit 99
}
parts=${GUEST_PARTS:-}
if [ -z "$parts" ]; then
	for f in "$here"/part-*.sh; do
		[ -f "$f" ] || continue
		# Parts marked "guest-check: manual" only run when named.
		grep -q '^# guest-check: manual' "$f" && continue
		f=${f##*/part-}
		parts="$parts ${f%.sh}"
	done
fi
[ -n "$parts" ] || { echo "SKIP: no parts in $here"; exit 77; }
# shellcheck disable=SC2086
set -- $parts
timeout=${GUEST_TIMEOUT:-$((300 + 900 * $#))}

if { true >&9; } 2>/dev/null; then
	"$here/run-guest.sh" -b "$builddir" -t "$timeout" "$@" 2>&1 |
		tee /dev/fd/9
	exit "${PIPESTATUS[0]}"
fi

exec "$here/run-guest.sh" -b "$builddir" -t "$timeout" "$@"
