#!/bin/sh
# The whole suite over the ofi transport on connected endpoints (FI_EP_MSG,
# one connection per pair of members): libfabric's sockets provider, the
# one on this host that offers FI_RMA with FI_ATOMIC on MSG endpoints
# (tcp's MSG endpoints have no atomics). Skips when it is absent.
# Not part of `make check` yet: the sockets provider is too slow for the
# timing bounds of test-mp-atomics' races, test-mp-deadpeer and
# test-mp-passive on a loaded machine (run it by hand from tests/).
WIN_OFI_EP_TYPE=msg
FI_SOCKETS_IFACE=${FI_SOCKETS_IFACE:-lo}
export WIN_OFI_EP_TYPE FI_SOCKETS_IFACE
exec "$(dirname "$0")/suite-ofi.sh" sockets
