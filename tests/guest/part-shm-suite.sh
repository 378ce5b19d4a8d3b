#!/bin/bash
# The whole Check suite (unit/ and mp/) on the shm transport, in the guest.
# The host runs the same suite, so make check leaves it out:
# guest-check: manual
. "$SRCDIR/tests/guest/lib.sh"
set -u
run_check_programs WIN_TRANSPORTS=shm --
