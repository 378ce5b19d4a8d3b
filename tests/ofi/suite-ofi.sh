#!/bin/sh
# Run every Check program of the suite (tests/unit and tests/mp) over the
# ofi transport on one libfabric provider, printing each program's output.
#
# Usage: suite-ofi.sh PROVIDER   (run from the build tree's tests/ directory,
#                                 as `make check` does; e.g. tcp, shm)
# WIN_OFI_EP_TYPE=msg in the environment: connected endpoints instead of
# RDM ones (suite-ofi-msg.sh).
# The atomics programs run a second time with WIN_OFI_EMULATE_ATOMICS=1,
# which puts every window atomic on the compare-and-swap loops.
# Exit: 0 all passed, 1 a program failed, 77 (skip) when the provider is not
# there or cannot offer what the transport needs (FI_RMA with FI_ATOMIC),
# with the reason. A provider that is there but fails fails the test.
#
# Traffic stays on loopback: FI_TCP_IFACE=lo, and the transport binds
# network providers to 127.0.0.1.
set -u
prov=${1:-${WIN_OFI_PROVIDER:-tcp}}
here=$(pwd)
wininfo=${WININFO:-$here/../tools/wininfo}
per_prog_timeout=${OFI_SUITE_TIMEOUT:-600}

WIN_TRANSPORTS=ofi
WIN_OFI_PROVIDER=$prov
FI_TCP_IFACE=lo
# Check's per-test timeouts catch hangs; libfabric's start-up (fi_getinfo
# initializes every provider, ~1 s on a loaded machine) and the connection
# set-up make each forked member slower to start than over shm.
CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10}
export WIN_TRANSPORTS WIN_OFI_PROVIDER FI_TCP_IFACE CK_TIMEOUT_MULTIPLIER

if [ ! -x "$wininfo" ]; then
	echo "SKIP: $wininfo is not built"
	exit 77
fi
if ! WIN_TRANSPORTS= "$wininfo" | grep -q '^transport ofi:'; then
	echo "SKIP: libwin was built without the ofi transport (no libfabric)"
	exit 77
fi
info=$("$wininfo" 2>&1)
st=$?
if [ $st -ne 0 ]; then
	case $info in
	*"no libfabric provider"*|*"offers FI_RMA but no FI_ATOMIC"*)
		echo "SKIP: provider $prov: $info"
		exit 77;;
	esac
	echo "FAIL: the ofi transport does not open on provider $prov:"
	echo "$info"
	exit 1
fi
echo "$info" | sed -n '/^transport ofi/,$p'

progs=
for f in unit/test-* mp/test-mp-*; do
	case $f in
	*.o|*.log|*.trs|*.c|*.h) continue;;
	esac
	[ -f "$f" ] && [ -x "$f" ] && progs="$progs $f"
done
if [ -z "$progs" ]; then
	echo "FAIL: no test programs found under $here (run from tests/)"
	exit 1
fi

epnote=${WIN_OFI_EP_TYPE:+ WIN_OFI_EP_TYPE=$WIN_OFI_EP_TYPE}
status=0
total=0
for p in $progs; do
	total=$((total + 1))
	echo "=== $p (WIN_TRANSPORTS=ofi WIN_OFI_PROVIDER=$prov$epnote)"
	out=$(timeout -k 10 "$per_prog_timeout" "./$p" 2>&1)
	rc=$?
	echo "$out"
	case $rc in
	0) ;;
	77) echo "--- $p skipped";;
	124|137) echo "--- $p TIMED OUT after ${per_prog_timeout}s"; status=1;;
	*) echo "--- $p FAILED (exit $rc)"; status=1;;
	esac
done

# The compare-and-swap loops that stand in for atomics a provider lacks:
# the atomics programs once more with every window atomic forced onto them
# (WIN_OFI_EMULATE_ATOMICS=1). wininfo must confirm that the loops are on.
# OFI_SUITE_EMULATE=0 leaves this pass out (suite-ofi-shm.sh does).
emu=$(WIN_OFI_EMULATE_ATOMICS=1 "$wininfo" 2>&1)
if [ "${OFI_SUITE_EMULATE:-1}" = 0 ]; then
	echo "=== emulated atomics: not run on $prov (OFI_SUITE_EMULATE=0)"
elif ! echo "$emu" | grep -q 'atomics forced to compare-and-swap loops'; then
	echo "--- WIN_OFI_EMULATE_ATOMICS=1 did not switch the atomics to" \
	     "compare-and-swap loops:"
	echo "$emu"
	status=1
else
	for p in mp/test-mp-atomics unit/test-self; do
		[ -x "$p" ] || continue
		total=$((total + 1))
		echo "=== $p (WIN_OFI_EMULATE_ATOMICS=1, WIN_OFI_PROVIDER=$prov$epnote)"
		out=$(WIN_OFI_EMULATE_ATOMICS=1 timeout -k 10 \
			"$per_prog_timeout" "./$p" 2>&1)
		rc=$?
		echo "$out"
		case $rc in
		0) ;;
		77) echo "--- $p skipped";;
		124|137) echo "--- $p (emulated atomics) TIMED OUT after" \
			      "${per_prog_timeout}s"; status=1;;
		*) echo "--- $p (emulated atomics) FAILED (exit $rc)"
		   status=1;;
		esac
	done
fi
echo "=== ofi/$prov$epnote: $total programs, $( [ $status -eq 0 ] && echo all passed || echo FAILURES)"
exit $status
