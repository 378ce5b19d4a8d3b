#!/bin/sh
# The whole suite over the ofi transport on connected endpoints (FI_EP_MSG,
# one connection per pair of members): libfabric's sockets provider, the
# one on this host that offers FI_RMA with FI_ATOMIC on MSG endpoints
# (tcp's MSG endpoints have no atomics). Skips when it is absent.
# About 5 minutes on an idle 2-core machine: Check's timeouts get 30x.
# LIBWIN_OFI_MSG=skip skips it (.ci/run does for its repeated passes).
if [ "${LIBWIN_OFI_MSG:-}" = skip ]; then
	echo "SKIP: LIBWIN_OFI_MSG=skip (connected endpoints are tested in the first pass)"
	exit 77
fi
CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-30}
# The compare-and-swap emulation of atomics is the same code on every
# provider and runs on tcp; over sockets its 4-member race takes longer
# than the group's 10 s barrier bound on a loaded machine.
OFI_SUITE_EMULATE=${OFI_SUITE_EMULATE:-0}
export CK_TIMEOUT_MULTIPLIER OFI_SUITE_EMULATE
WIN_OFI_EP_TYPE=msg
FI_SOCKETS_IFACE=${FI_SOCKETS_IFACE:-lo}
export WIN_OFI_EP_TYPE FI_SOCKETS_IFACE
exec "$(dirname "$0")/suite-ofi.sh" sockets
