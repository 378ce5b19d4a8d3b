#!/bin/bash
# The ofi transport on libfabric's verbs provider (through ofi_rxm) over
# Soft-RoCE (rxe0 on 169.254.77.1, inside the guest): the whole suite with
# WIN_TRANSPORTS=ofi, WIN_OFI_PROVIDER="verbs;ofi_rxm". When the provider
# cannot offer what the transport needs (FI_RMA with FI_ATOMIC on an RDM
# endpoint), the part is skipped with libfabric's answer as the reason.
. "$SRCDIR/tests/guest/lib.sh"
set -u
setup_rxe || fail "could not set up rxe0"
[ -x "$BUILDDIR/tools/wininfo" ] || skip "tools/wininfo not built"
WIN_TRANSPORTS= "$BUILDDIR/tools/wininfo" | grep -q '^transport ofi:' ||
	skip "libwin was built without the ofi transport"
export WIN_OFI_NODE=169.254.77.1 FI_VERBS_IFACE=d0
prov="verbs;ofi_rxm"
# What libfabric answers for this provider on rxe0's address.
why=$(WIN_TRANSPORTS= WIN_OFI_PROVIDER=$prov "$BUILDDIR/tools/wininfo" 2>&1 |
	sed -n '/^transport ofi/,/^transport /p' | grep 'error:')
case $why in
*"no libfabric provider"*|*"offers FI_RMA but no FI_ATOMIC"*)
	skip "libfabric ($prov on rxe0):${why#*error:}" ;;
esac
cd "$BUILDDIR/tests" || fail "no $BUILDDIR/tests"
OFI_SUITE_TIMEOUT=${OFI_SUITE_TIMEOUT:-600} \
	"$SRCDIR/tests/ofi/suite-ofi.sh" "$prov"
