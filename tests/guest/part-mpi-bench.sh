#!/bin/bash
# Benchmark, not a test: make check's guest run skips it; run it with
#     run-guest.sh -e MPI_BENCH=1 mpi-bench
# The unmodified MPI-3 RMA benchmark (bench/mpi_rma_bench) on Open MPI's
# own one-sided layer and on libwin through libwin_pmpi.so, in one run
# (bench/pmpi-compare.sh), with the kshim module loaded: this is the
# single-host configuration libwin is built for, where the kernel shim
# maps page-aligned created windows into their peers and carries the
# rest with one ioctl. libwin is held to the kshim transport
# (WIN_TRANSPORTS=kshim), so a figure can only come from it; Open MPI
# runs as it chooses (osc/rdma or osc/sm over btl vader, with CMA).
# MPI_BENCH_SIZES (default 8:1M), MPI_BENCH_RUNS (median over, default 3),
# MPI_BENCH_ITERS (default 1000) bound the run; MPI_BENCH_KINDS (default
# lat,bw).
. "$SRCDIR/tests/guest/lib.sh"
set -u
[ "${MPI_BENCH:-0}" = 1 ] ||
	skip "benchmark only: run-guest.sh -e MPI_BENCH=1 mpi-bench"
need_cmd mpirun openmpi-bin
[ -x ./bench/mpi_rma_bench ] || skip "bench/mpi_rma_bench not built in $BUILDDIR"
[ -f ./mpi-bindings/pmpi/libwin_pmpi.so ] ||
	skip "mpi-bindings/pmpi/libwin_pmpi.so not built in $BUILDDIR"
load_kshim || fail "the kshim module did not load"
# Created windows are pinned by the module (RLIMIT_MEMLOCK).
ulimit -l unlimited 2>/dev/null
export WIN_TRANSPORTS=kshim
echo "--- pmpi-compare.sh, libwin held to WIN_TRANSPORTS=kshim"
(cd bench && timeout 3000 sh "$SRCDIR/bench/pmpi-compare.sh" \
	-w allocate,create,create_mem -o put,get,fop -k "${MPI_BENCH_KINDS:-lat,bw}" \
	-m "${MPI_BENCH_SIZES:-8:1M}" -r "${MPI_BENCH_RUNS:-3}" \
	-i "${MPI_BENCH_ITERS:-1000}") >"$TMPDIR/mpibench.out" 2>&1
rc=$?
cat "$TMPDIR/mpibench.out"
[ $rc = 0 ] || fail "pmpi-compare.sh exited with $rc"
grep -q "latency, .*met" "$TMPDIR/mpibench.out" ||
	fail "pmpi-compare.sh printed no targets"
exit 0
