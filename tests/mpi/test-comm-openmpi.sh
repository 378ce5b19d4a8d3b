#!/bin/sh
# libwin_mpi over Open MPI, 2 and 4 ranks (see test-comm-run.sh).
exec "${SHELL:-/bin/sh}" "$(dirname "$0")/test-comm-run.sh" openmpi
