#!/bin/sh
# libwin_mpi over MPICH, 2 and 4 ranks (see test-comm-run.sh).
exec "${SHELL:-/bin/sh}" "$(dirname "$0")/test-comm-run.sh" mpich
