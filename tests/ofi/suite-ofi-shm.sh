#!/bin/sh
# The whole suite over the ofi transport on libfabric's shm provider.
# Without the emulated-atomics pass (run by the tcp and msg suites): on shm
# every remote atomic waits for a pass of the target's progress, and the
# compare-and-swap loops need at least two per update, so the contended
# loops of test-mp-atomics outlast its 10 s barrier on a loaded machine.
OFI_SUITE_EMULATE=${OFI_SUITE_EMULATE:-0}
export OFI_SUITE_EMULATE
exec "$(dirname "$0")/suite-ofi.sh" shm
