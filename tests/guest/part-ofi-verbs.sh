#!/bin/bash
# The ofi transport on libfabric's verbs provider over Soft-RoCE (rxe0 on
# 169.254.77.1, inside the guest): the whole suite with WIN_TRANSPORTS=ofi,
# WIN_OFI_PROVIDER=verbs, on the first endpoint type that works: RDM
# ("verbs;ofi_rxm"), else connected endpoints (FI_EP_MSG over rdma_cm).
# Each is tried first with a short winbench run of put, get, fetch-op and
# compare-and-swap (data checked); when neither works, the part is skipped
# with what libfabric and libwin said for each (the transport refuses a
# provider whose compare-and-swap gives wrong results).
# The suite over rxm on emulated rxe takes about 20 minutes.
# guest-part-timeout: 2400
. "$SRCDIR/tests/guest/lib.sh"
set -u
setup_rxe || fail "could not set up rxe0"
[ -x "$BUILDDIR/tools/wininfo" ] || skip "tools/wininfo not built"
WIN_TRANSPORTS= "$BUILDDIR/tools/wininfo" | grep -q '^transport ofi:' ||
	skip "libwin was built without the ofi transport"
export WIN_OFI_NODE=169.254.77.1 FI_VERBS_IFACE=d0 WIN_OFI_PROVIDER=verbs
# ofi_rxm sizes the completion queue of its verbs endpoints for
# FI_UNIVERSE_SIZE peers (default 256), more entries than rxe0 allows
# (fi_enable then fails with EINVAL, "Unable to create verbs CQ"); the
# suite has at most 4 members.
export FI_UNIVERSE_SIZE=${FI_UNIVERSE_SIZE:-64}
why=$(WIN_TRANSPORTS= "$BUILDDIR/tools/wininfo" 2>&1 |
	sed -n '/^transport ofi/,/^transport /p' | grep 'error:')
case $why in
*"no libfabric provider"*|*"offers FI_RMA but no FI_ATOMIC"*)
	skip "libfabric (verbs on rxe0):${why#*error:}" ;;
esac
chosen=
reasons=
for ep in rdm msg; do
	out=$(WIN_OFI_EP_TYPE=$ep WIN_TIMEOUT_MS=30000 timeout 300 \
		"$BUILDDIR/bench/winbench" -T ofi -o put,get,fop,cas -k lat \
		-m 8:64 -i 20 -x 2 -r 1 2>&1)
	st=$?
	echo "--- winbench over ofi verbs, $ep endpoints (status $st):"
	echo "$out" | grep -v '^#' | grep -v '^$'
	if [ $st -eq 0 ] && ! echo "$out" | grep -q -E 'MISMATCH|WARNING'; then
		chosen=$ep
		break
	fi
	msg=$(echo "$out" | grep -o -E 'ofi \(.*|ofi: .*|MISMATCH|WARNING.*' | head -n 1)
	reasons="$reasons; $ep endpoints: ${msg:-winbench exit status $st}"
done
[ -n "$chosen" ] || skip "libfabric's verbs provider on rxe0${reasons}"
cd "$BUILDDIR/tests" || fail "no $BUILDDIR/tests"
WIN_OFI_EP_TYPE=$chosen OFI_SUITE_TIMEOUT=${OFI_SUITE_TIMEOUT:-600} \
	"$SRCDIR/tests/ofi/suite-ofi.sh" verbs
