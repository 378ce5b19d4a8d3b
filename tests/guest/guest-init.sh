#!/bin/bash
# guest-init.sh - runs inside the qemu guest, chrooted into the host's tree
# (started by the initramfs of run-guest.sh). Runs each part named in
# GUEST_PARTS as tests/guest/part-NAME.sh with cwd BUILDDIR and env SRCDIR,
# BUILDDIR, KVER; prints on the console, for each part,
#     @@GUEST-BEGIN NAME
#     @@GUEST-TIME NAME SECONDS
#     @@GUEST-PART NAME PASS|FAIL|SKIP reason
# then the same marker for "dmesg" (kernel errors seen during the run) and
# finally @@GUEST-DONE.
set -u
export SRCDIR BUILDDIR KVER TMPDIR=${TMPDIR:-/dev/shm}
: "${GUEST_PART_TIMEOUT:=900}"
# Variables given with run-guest.sh -e.
[ ! -f "$GUEST_RUNDIR/parts.env" ] || . "$GUEST_RUNDIR/parts.env"
results=$(mktemp -d "$TMPDIR/guest-init.XXXXXX")

# Kernel log lines that mean the kernel itself went wrong.
bad_kernel_lines='Oops|BUG:|WARNING:|general protection|KASAN|refcount_t'
dmesg_lines() { dmesg 2>/dev/null | wc -l; }
dirty_parts=
seen=$(dmesg_lines)

for p in $GUEST_PARTS; do
	script=$SRCDIR/tests/guest/part-$p.sh
	[ "$p" != cmd ] || script=$GUEST_RUNDIR/part-cmd.sh
	skipfile=$results/$p.skip
	echo "@@GUEST-BEGIN $p"
	t0=$(date +%s.%N)
	# A part may need longer: "# guest-part-timeout: SECONDS" in it.
	pt=$GUEST_PART_TIMEOUT
	own=$(sed -n 's/^# guest-part-timeout: *\([0-9][0-9]*\).*/\1/p' \
		"$script" 2>/dev/null | head -n 1)
	[ -z "$own" ] || [ "$own" -le "$pt" ] || pt=$own
	if [ -f "$script" ]; then
		(cd "$BUILDDIR" && GUEST_SKIP_FILE=$skipfile \
			exec timeout -k 10 "$pt" bash "$script") </dev/null 2>&1
		rc=$?
	else
		echo "no such part: $script"
		rc=127
	fi
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) res="PASS" reason="" ;;
	77) res="SKIP" reason=$(head -n 1 "$skipfile" 2>/dev/null)
	    reason=${reason:-"(the part gave no reason)"} ;;
	124 | 137) res="FAIL" reason="killed after the ${pt}s part timeout" ;;
	*) res="FAIL" reason="exit status $rc" ;;
	esac
	# Kernel complaints during this part, shown next to its output.
	now=$(dmesg_lines)
	new=$(dmesg 2>/dev/null | tail -n +$((seen + 1)) | grep -E "$bad_kernel_lines")
	if [ -n "$new" ]; then
		dirty_parts="$dirty_parts $p"
		echo "--- kernel errors during part $p:"
		dmesg | tail -n +$((seen + 1)) | tail -n 60
	elif [ "$res" = FAIL ]; then
		echo "--- last kernel messages after part $p:"
		dmesg | tail -n 15
	fi
	seen=$now
	echo "@@GUEST-TIME $p $secs"
	echo "@@GUEST-PART $p $res${reason:+ $reason}"
done

bad=$(dmesg 2>/dev/null | grep -E "$bad_kernel_lines")
if [ -n "$bad" ]; then
	echo "--- kernel errors in dmesg:"
	printf '%s\n' "$bad"
	echo "@@GUEST-PART dmesg FAIL $(printf '%s\n' "$bad" | wc -l) kernel error line(s)${dirty_parts:+, during:$dirty_parts}"
else
	echo "@@GUEST-PART dmesg PASS"
fi
rm -rf "$results"
echo "@@GUEST-DONE"
