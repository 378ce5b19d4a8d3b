#!/bin/bash
# The whole Check suite (unit/ and mp/) on the shm transport, in the guest.
. "$SRCDIR/tests/guest/lib.sh"
set -u
run_check_programs WIN_TRANSPORTS=shm --
