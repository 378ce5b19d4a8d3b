# lib.sh - helpers for the parts run inside the guest (tests/guest/part-*.sh).
# A part starts with:   . "$SRCDIR/tests/guest/lib.sh"
# Environment: SRCDIR, BUILDDIR, KVER; cwd is BUILDDIR; TMPDIR=/dev/shm
# (tmpfs). Exit 0 pass, 77 skip (use `skip REASON`), anything else fail.

# skip REASON: report the part as skipped, with the reason, and exit 77.
skip() {
	echo "SKIP: $*"
	[ -z "${GUEST_SKIP_FILE:-}" ] || echo "$*" >"$GUEST_SKIP_FILE"
	exit 77
}

# fail MESSAGE: report why the part fails and exit 1.
fail() {
	echo "FAIL: $*"
	exit 1
}

# need_cmd CMD [PACKAGE]: skip the part when a command is missing.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		skip "$1 not found${2:+ (install $2)}"
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
	local limit=$(($1 * 5)) i=0
	shift
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $limit ] || return 1
		sleep 0.2
	done
}

# load_kshim: insert $BUILDDIR/kshim/kshim.ko (skip if it was not built)
# and wait for /dev/kshim. Returns non-zero if the module misbehaves.
load_kshim() {
	local ko=$BUILDDIR/kshim/kshim.ko
	[ -f "$ko" ] || skip "kshim module not built ($ko missing: run make in $BUILDDIR/kshim)"
	if ! grep -q '^kshim ' /proc/modules; then
		insmod "$ko" || { echo "load_kshim: insmod $ko failed"; dmesg | tail -n 20; return 1; }
	fi
	wait_for 10 test -c /dev/kshim ||
		{ echo "load_kshim: /dev/kshim did not appear"; dmesg | tail -n 20; return 1; }
	echo "load_kshim: $ko loaded, /dev/kshim ready"
}

# unload_kshim: remove the module (fails if it is still in use).
unload_kshim() {
	grep -q '^kshim ' /proc/modules || return 0
	rmmod kshim || { echo "unload_kshim: rmmod kshim failed"; return 1; }
}

has_rxe0() { ibv_devices 2>/dev/null | grep -qw rxe0; }

# setup_rxe: Soft-RoCE device rxe0 on a dummy netdev d0 (169.254.77.1/24),
# nothing leaves the guest. Idempotent. Skips if the tools are missing.
setup_rxe() {
	need_cmd rdma iproute2
	need_cmd ibv_devices ibverbs-utils
	if has_rxe0; then
		return 0
	fi
	local m
	# rdma_ucm: /dev/infiniband/rdma_cm, which librdmacm (and libfabric's
	# verbs provider through it) needs; the chroot cannot autoload it.
	for m in crc32_generic rdma_rxe rdma_ucm dummy; do
		modprobe "$m" || { echo "setup_rxe: modprobe $m failed"; return 1; }
	done
	if ! ip link show d0 >/dev/null 2>&1; then
		ip link add d0 type dummy || return 1
		ip addr add 169.254.77.1/24 dev d0 || return 1
	fi
	ip link set d0 up || return 1
	rdma link add rxe0 type rxe netdev d0 ||
		{ echo "setup_rxe: rdma link add failed"; dmesg | tail -n 10; return 1; }
	wait_for 10 has_rxe0 ||
		{ echo "setup_rxe: rxe0 not listed by ibv_devices"; return 1; }
	echo "setup_rxe: rxe0 on d0 (169.254.77.1) ready"
}

# check_programs: every Check program built in $BUILDDIR/tests (unit/, mp/).
check_programs() {
	local f
	for f in "$BUILDDIR"/tests/unit/test-* "$BUILDDIR"/tests/mp/test-*; do
		case ${f##*/} in *.*) continue ;; esac
		[ -f "$f" ] && [ -x "$f" ] && echo "${f#"$BUILDDIR"/tests/}"
	done
}

# run_check_programs [VAR=VALUE...] -- [PROGRAM...]
# Runs libwin's Check programs (paths relative to $BUILDDIR/tests, e.g.
# unit/test-init; all of unit/ and mp/ when none is named) with the given
# environment (and CK_TIMEOUT_MULTIPLIER=30 unless set), printing each
# one's output (so Check's summary lines reach the console). Returns 1
# if any fails; skips the part if none is built.
run_check_programs() {
	# Check's 4 s default per test is too short under emulation.
	local envs=("CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-30}")
	local progs=() p rc failed=() n=0 t0 t1
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	progs=("$@")
	[ ${#progs[@]} -gt 0 ] || mapfile -t progs <<<"$(check_programs)"
	[ -n "${progs[0]:-}" ] || progs=()
	[ ${#progs[@]} -gt 0 ] ||
		skip "no Check programs built in $BUILDDIR/tests (is Check installed? run make check)"
	for p in "${progs[@]}"; do
		if [ ! -x "$BUILDDIR/tests/$p" ]; then
			echo "--- $p: not built ($BUILDDIR/tests/$p)"
			failed+=("$p")
			continue
		fi
		echo "--- $p ${envs[*]}"
		t0=$(date +%s.%N)
		(cd "$BUILDDIR/tests" && exec env "${envs[@]}" "./$p") </dev/null 2>&1 9>&-
		rc=$?
		t1=$(date +%s.%N)
		n=$((n + 1))
		echo "--- $p: $([ $rc -eq 0 ] && echo PASS || echo "FAIL (status $rc)") $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s"
		[ $rc -eq 0 ] || failed+=("$p")
	done
	if [ ${#failed[@]} -gt 0 ]; then
		echo "run_check_programs: ${#failed[@]} of ${#progs[@]} failed: ${failed[*]}"
		return 1
	fi
	echo "run_check_programs: all $n passed"
}
