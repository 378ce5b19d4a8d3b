#!/bin/bash
# run-guest.sh - run test parts inside a qemu guest that boots the Debian
# kernel the kshim module is built for, with the host's / shared over 9p.
#
# Usage (from a configured build directory, or name it with -b):
#
#     /path/to/src/tests/guest/run-guest.sh [-b BUILDDIR] [-t TIMEOUT_S]
#             [-p PART_TIMEOUT_S] [-m MEM_MB] [-e VAR=VALUE]... [-k]
#             [-c COMMAND] PART...
#
#   PART         a script tests/guest/part-PART.sh of the source tree, run
#                inside the guest (cwd BUILDDIR; env SRCDIR, BUILDDIR, KVER)
#   -b BUILDDIR  configured build directory (default: the nearest directory
#                at or above the current one holding config.status)
#   -t TIMEOUT   seconds before the whole guest is killed (default 1800)
#   -p TIMEOUT   seconds before one part is killed inside the guest
#                (default 900)
#   -m MEM       guest memory in MiB (default 2048)
#   -e VAR=VAL   export VAR=VAL to the parts (repeatable; the guest
#                otherwise starts from an empty environment)
#   -k           keep the run directory (console log) even on success
#   -c COMMAND   also run COMMAND (bash, cwd BUILDDIR, lib.sh loaded) as a
#                part named "cmd", after the named parts
#
# How it works: a tiny initramfs (busybox-static, an /init, the virtio and 9p
# modules of the guest kernel) is built once and cached in
# BUILDDIR/tests/guest/work/. The guest mounts the host's / over 9p, binds
# /proc /sys /dev into it, puts a fresh tmpfs on /dev/shm (TMPDIR=/dev/shm),
# brings lo up, names itself "guest", then chroots into the host's tree and
# runs tests/guest/guest-init.sh, which runs each part and prints a marker
#     @@GUEST-PART NAME PASS|FAIL|SKIP reason
# on the serial console, then checks dmesg for kernel errors (marker "dmesg")
# and powers off. This script shows the console as it arrives and prints a
# result table.
#
# The guest kernel boots with tsc=reliable: under software emulation it
# otherwise finds the vCPUs' TSCs unsynchronized and falls back to the
# HPET, where every clock_gettime() traps into the emulated device (about
# 2.5 us instead of 0.1 us), which skews everything timed in the guest
# (libwin's deadlines, winbench -P against perftest's rdtsc). The emulated
# TSC comes from one host clock; CLOCK_MONOTONIC read across forced
# migrations between the vCPUs never went back. GUEST_APPEND adds further
# kernel arguments; GUEST_SMP sets the number of vCPUs (default 2).
#
# Exit status: 0 every part passed or skipped (at least one passed),
# 1 a part failed or the guest never reported, 77 the guest cannot run here
# (no qemu, no kernel image, no static busybox) or every part skipped.
# The kernel, qemu and KVER come from the build directory's configure
# results (tests/Makefile); the environment variables QEMU, GUEST_KERNEL
# and KVER override them.
set -u

self_dir=$(cd "$(dirname "$0")" && pwd)
SRCDIR=$(cd "$self_dir/../.." && pwd)

timeout_s=1800
part_timeout=900
mem=2048
smp=${GUEST_SMP:-2}
keep=no
BUILDDIR=${BUILDDIR:-}

usage() {
	sed -n '/^# Usage/,/^#   -c/p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

guest_env=()
command=
while getopts b:t:p:m:e:c:kh opt; do
	case $opt in
	b) BUILDDIR=$OPTARG ;;
	t) timeout_s=$OPTARG ;;
	p) part_timeout=$OPTARG ;;
	m) mem=$OPTARG ;;
	e) case $OPTARG in
	   [A-Za-z_]*=*) guest_env+=("$OPTARG") ;;
	   *) echo "run-guest: -e wants VAR=VALUE, not '$OPTARG'" >&2; exit 2 ;;
	   esac ;;
	k) keep=yes ;;
	c) command=$OPTARG ;;
	h) usage 0 ;;
	*) usage 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || [ -n "$command" ] ||
	{ echo "run-guest: no part named" >&2; usage 2; }
for n in "$timeout_s" "$part_timeout" "$mem" "$smp"; do
	case $n in
	'' | *[!0-9]*) echo "run-guest: '$n' is not a number" >&2; exit 2 ;;
	esac
done

cannot_run() {
	echo "run-guest: SKIP: the guest cannot run here: $*"
	exit 77
}

# --- the build directory and its configure results ---------------------
if [ -z "$BUILDDIR" ]; then
	d=$(pwd)
	while [ "$d" != / ] && [ ! -f "$d/config.status" ]; do
		d=$(dirname "$d")
	done
	[ -f "$d/config.status" ] ||
		{ echo "run-guest: no configured build directory at or above $(pwd); use -b" >&2; exit 1; }
	BUILDDIR=$d
fi
BUILDDIR=$(cd "$BUILDDIR" && pwd) ||
	{ echo "run-guest: no build directory $BUILDDIR" >&2; exit 1; }
[ -f "$BUILDDIR/config.status" ] ||
	{ echo "run-guest: $BUILDDIR is not a configured build directory" >&2; exit 1; }

make_var() {
	sed -n "s/^$1 = //p" "$BUILDDIR/tests/Makefile" 2>/dev/null | head -n 1
}
QEMU=${QEMU:-$(make_var QEMU)}
if [ -n "${KVER:-}" ]; then
	# Another kernel than configure's: its image, unless named too.
	GUEST_KERNEL=${GUEST_KERNEL:-/boot/vmlinuz-$KVER}
else
	KVER=$(make_var KVER)
	GUEST_KERNEL=${GUEST_KERNEL:-$(make_var GUEST_KERNEL)}
fi
[ -n "$QEMU" ] || QEMU=$(command -v qemu-system-x86_64 || echo no)
[ -n "$GUEST_KERNEL" ] || GUEST_KERNEL=no
[ "$GUEST_KERNEL" = no ] && [ -n "$KVER" ] && [ -f "/boot/vmlinuz-$KVER" ] &&
	GUEST_KERNEL=/boot/vmlinuz-$KVER

[ "$QEMU" != no ] && [ -x "$QEMU" ] ||
	cannot_run "qemu-system-x86_64 not found (install qemu-system-x86)"
[ -n "$KVER" ] ||
	cannot_run "no guest kernel release: configure found no kernel build directory (install linux-image-amd64 linux-headers-amd64)"
[ "$GUEST_KERNEL" != no ] && [ -r "$GUEST_KERNEL" ] ||
	cannot_run "no readable kernel image /boot/vmlinuz-$KVER (install linux-image-amd64)"
[ -d "/lib/modules/$KVER/kernel" ] ||
	cannot_run "no modules for $KVER in /lib/modules/$KVER (install the linux-image package of $KVER)"
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox /usr/lib/initramfs-tools/bin/busybox; do
	if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
		BUSYBOX=$b
		break
	fi
done
[ -n "$BUSYBOX" ] || cannot_run "no statically linked busybox (install busybox-static)"
for tool in cpio modinfo timeout tail; do
	command -v "$tool" >/dev/null || cannot_run "$tool not found on the host"
done
case "$BUILDDIR$SRCDIR" in
*[[:space:]]*) echo "run-guest: paths with white space are not supported: $BUILDDIR $SRCDIR" >&2; exit 1 ;;
esac

for p in "$@"; do
	case $p in
	'' | *[!A-Za-z0-9_.-]* | dmesg | cmd) echo "run-guest: bad part name '$p'" >&2; exit 2 ;;
	esac
	[ -f "$SRCDIR/tests/guest/part-$p.sh" ] ||
		{ echo "run-guest: no part '$p' ($SRCDIR/tests/guest/part-$p.sh)" >&2; exit 1; }
done

work=$BUILDDIR/tests/guest/work
mkdir -p "$work" || exit 1

# --- the initramfs (cached) -----------------------------------------------
# Modules to insmod, each after its dependencies.
base_modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
	virtio_pci netfs fscache 9pnet 9pnet_virtio 9p"
declare -A mod_seen=()
mod_order=()
add_module() {
	local m=$1 deps d
	[ -n "${mod_seen[$m]:-}" ] && return 0
	mod_seen[$m]=1
	deps=$(modinfo -k "$KVER" -F depends "$m" 2>/dev/null) || return 1
	for d in ${deps//,/ }; do
		add_module "$d" || return 1
	done
	mod_order+=("$m")
}

initramfs=$work/initramfs-$KVER.cpio
if [ ! -s "$initramfs" ] || [ "$0" -nt "$initramfs" ] ||
	[ "$BUSYBOX" -nt "$initramfs" ]; then
	for m in $base_modules; do
		if ! add_module "$m"; then
			# Built into this kernel: nothing to load.
			grep -q "/$m.ko" "/lib/modules/$KVER/modules.builtin" 2>/dev/null ||
				cannot_run "module $m of $KVER not found (modinfo -k $KVER $m)"
		fi
	done
	stage=$(mktemp -d "$work/stage.XXXXXX") || exit 1
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,mnt,tmp,modules}
	cp "$BUSYBOX" "$stage/bin/busybox"
	: >"$stage/modules.list"
	for m in "${mod_order[@]}"; do
		f=$(modinfo -k "$KVER" -n "$m") || cannot_run "no file for module $m"
		case $f in
		*.ko) cp "$f" "$stage/modules/$m.ko" ;;
		*.ko.xz) xz -dc "$f" >"$stage/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$stage/modules/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$stage/modules/$m.ko" ;;
		*) cannot_run "module $m: unknown file $f" ;;
		esac || cannot_run "could not copy module $f"
		echo "$m" >>"$stage/modules.list"
	done
	cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
# Guest init: load 9p, mount the host's /, chroot and run the parts.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
halt() {
	echo "@@GUEST-ERROR $*"
	poweroff -f
	sleep 60
}
for m in $(cat /modules.list); do
	insmod "/modules/$m.ko" || halt "insmod $m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host /mnt ||
	halt "cannot mount the host's / over 9p"
run=
for arg in $(cat /proc/cmdline); do
	case $arg in libwin_run=*) run=${arg#libwin_run=} ;; esac
done
[ -n "$run" ] && [ -f "/mnt$run/guest.env" ] || halt "no run file '$run'"
. "/mnt$run/guest.env"
hostname guest
ip link set lo up
mount --bind /proc /mnt/proc
mount --bind /sys /mnt/sys
mount --bind /dev /mnt/dev
mkdir -p /dev/pts /dev/shm
# What udev would add: /dev/fd (bash's process substitution needs it).
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mount -t devpts -o newinstance,ptmxmode=0666 devpts /mnt/dev/pts
mount -t tmpfs -o mode=1777 shm /mnt/dev/shm
mount -t debugfs debugfs /mnt/sys/kernel/debug 2>/dev/null
echo "@@GUEST-BOOTED $(cut -d' ' -f1 /proc/uptime)"
chroot /mnt /usr/bin/env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 TMPDIR=/dev/shm \
	SRCDIR="$SRCDIR" BUILDDIR="$BUILDDIR" KVER="$KVER" \
	GUEST_PARTS="$GUEST_PARTS" GUEST_PART_TIMEOUT="$GUEST_PART_TIMEOUT" \
	GUEST_RUNDIR="$run" \
	/bin/bash "$SRCDIR/tests/guest/guest-init.sh" ||
	echo "@@GUEST-ERROR guest-init.sh exited with status $?"
sync
poweroff -f
sleep 60
EOF
	chmod 755 "$stage/init"
	(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) \
		>"$initramfs.tmp.$$" || { rm -rf "$stage"; exit 1; }
	mv -f "$initramfs.tmp.$$" "$initramfs"
	rm -rf "$stage"
fi

# --- one run ------------------------------------------------------------
# Failed runs keep their directory; forget those older than a day.
find "$work" -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null
run=$(mktemp -d "$work/run.XXXXXX") || exit 1
console=$run/console.log
if [ -n "$command" ]; then
	printf '%s\n' '. "$SRCDIR/tests/guest/lib.sh"' "$command" >"$run/part-cmd.sh"
	set -- "$@" cmd
fi
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	echo "SRCDIR=$(quote "$SRCDIR")"
	echo "BUILDDIR=$(quote "$BUILDDIR")"
	echo "KVER=$(quote "$KVER")"
	echo "GUEST_PARTS=$(quote "$*")"
	echo "GUEST_PART_TIMEOUT=$(quote "$part_timeout")"
} >"$run/guest.env"
for kv in ${guest_env[@]+"${guest_env[@]}"}; do
	echo "export ${kv%%=*}=$(quote "${kv#*=}")"
done >"$run/parts.env"
: >"$console"

qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null
		sleep 2
		kill -KILL "$qpid" 2>/dev/null
	fi
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

echo "run-guest: kernel $GUEST_KERNEL, parts: $*, timeout ${timeout_s}s, log $console"
t0=$EPOCHREALTIME
# A subshell owns qemu and reaps it at once, so its pid stops existing when
# it exits (tail --pid and kill -0 see that); it records the exit status.
(
	"$QEMU" -accel tcg,thread=multi -cpu max -m "$mem" -smp "$smp" \
		-nic none -nographic -no-reboot \
		-kernel "$GUEST_KERNEL" -initrd "$initramfs" \
		-append "console=ttyS0 quiet panic=-1 libwin_run=$run tsc=reliable ${GUEST_APPEND:-}" \
		-virtfs local,path=/,mount_tag=host,security_model=none,id=host,multidevs=remap \
		</dev/null >"$console" 2>&1 &
	echo $! >"$run/qemu.pid"
	wait $!
	echo $? >"$run/qemu.rc"
) &
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -s "$run/qemu.pid" ] && break
	sleep 0.1
done
qpid=$(cat "$run/qemu.pid" 2>/dev/null)
[ -n "$qpid" ] || { echo "run-guest: qemu did not start" >&2; exit 1; }

# Show the console as it arrives (without carriage returns and terminal
# escapes) and note when the guest reached its chroot.
tail -n +1 -s 0.3 -f --pid="$qpid" "$console" |
	sed -u 's/\r//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' |
	while IFS= read -r line; do
		case $line in
		*@@GUEST-BOOTED*) echo "$EPOCHREALTIME" >"$run/booted" ;;
		esac
		printf '%s\n' "$line"
	done &
show=$!

timed_out=no
while [ ! -e "$run/qemu.rc" ]; do
	now=$EPOCHREALTIME
	if [ "${now%.*}" -ge $((${t0%.*} + timeout_s)) ]; then
		timed_out=yes
		echo "run-guest: timeout after ${timeout_s}s: killing qemu (pid $qpid)"
		kill -TERM "$qpid" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 1
		done
		kill -KILL "$qpid" 2>/dev/null
		break
	fi
	sleep 1
done
wait "$show" 2>/dev/null
wait 2>/dev/null
t1=$EPOCHREALTIME
qpid=

# --- results ----------------------------------------------------------------
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
clean_log=$run/console.txt
tr -d '\r' <"$console" >"$clean_log"
marker() { # NAME -> "STATUS reason" of its last marker
	sed -n "s/.*@@GUEST-PART $1 \([A-Z]*\) *\(.*\)$/\1 \2/p" "$clean_log" | tail -n 1
}
part_time() {
	sed -n "s/.*@@GUEST-TIME $1 \([0-9.]*\).*/\1/p" "$clean_log" | tail -n 1
}

echo
echo "=== guest results ==="
if [ -e "$run/booted" ]; then
	echo "boot: $(elapsed "$t0" "$(cat "$run/booted")") s to the chroot (host clock); guest uptime then $(sed -n 's/.*@@GUEST-BOOTED \([0-9.]*\).*/\1/p' "$clean_log" | head -n 1) s"
fi
echo "total: $(elapsed "$t0" "$t1") s (qemu exit status $(cat "$run/qemu.rc" 2>/dev/null || echo none))"
errors=$(sed -n 's/.*@@GUEST-ERROR //p' "$clean_log")
[ -z "$errors" ] || echo "guest error: $errors"
panic=$(grep -m 1 'Kernel panic' "$clean_log")
[ -z "$panic" ] || echo "guest kernel: $panic"
if [ ! -e "$run/booted" ] && [ "$timed_out" = no ]; then
	echo "qemu exited before the guest booted; its last output:"
	tail -n 20 "$clean_log" | sed 's/^/    /'
fi
[ "$timed_out" = no ] || echo "guest killed after the ${timeout_s}s timeout"
grep -q '@@GUEST-DONE' "$clean_log" || echo "the guest did not finish its parts"

status=0
npass=0
nskip=0
printf '%-24s %-5s %8s  %s\n' PART RESULT TIME REASON
for p in "$@" dmesg; do
	m=$(marker "$p")
	res=${m%% *}
	reason=${m#"$res"}
	reason=${reason# }
	if [ -z "$m" ]; then
		res=FAIL
		if grep -q "@@GUEST-BEGIN $p\$" "$clean_log"; then
			reason="started but never reported (guest crashed, hung or timed out)"
		else
			reason="never ran"
		fi
	fi
	case $res in
	PASS) [ "$p" = dmesg ] || npass=$((npass + 1)) ;;
	SKIP) nskip=$((nskip + 1)) ;;
	*) status=1 ;;
	esac
	t=$(part_time "$p")
	printf '%-24s %-5s %8s  %s\n' "$p" "$res" "${t:+${t}s}" "$reason"
	[ "$res" = FAIL ] && failed="${failed:-} $p"
done
# A failed part's own failure lines (Check's :F:/:E: lines, a program
# that failed or timed out), so that a short excerpt of the output still
# says what went wrong.
for p in ${failed:-}; do
	[ "$p" = dmesg ] && continue
	why=$(sed -n "/@@GUEST-BEGIN $p\$/,/@@GUEST-PART $p /p" "$clean_log" |
		grep -E ':[EF]:|FAILED|TIMED OUT|^FAIL|MISMATCH|[Tt]imed out' |
		head -n 12)
	[ -n "$why" ] || continue
	echo "--- $p, its failure lines:"
	echo "$why" | sed 's/^/    /'
done

if [ $status -eq 0 ] && [ $npass -eq 0 ]; then
	echo "run-guest: every part skipped"
	status=77
fi
if [ $status -eq 0 ] && [ $keep = no ]; then
	rm -rf "$run"
else
	echo "run-guest: console log kept in $console"
fi
exit $status
