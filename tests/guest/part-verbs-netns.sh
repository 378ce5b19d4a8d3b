#!/bin/bash
# Two "hosts" in one guest: network namespaces vwA and vwB joined by a veth
# pair, a Soft-RoCE device on each end (rxeA on vethA 169.254.78.1, rxeB on
# vethB 169.254.78.2). One verbs-peer process runs in each namespace; they
# form a named group through /dev/shm (shared by net namespaces) and check
# put/get/atomics/locks results with WIN_TRANSPORTS=verbs over the veth.
# perftest probes the path first: when rxe itself cannot carry traffic
# between the namespaces on this kernel, the part skips with that reason.
. "$SRCDIR/tests/guest/lib.sh"
set -u
need_cmd rdma iproute2
need_cmd ib_write_lat perftest
peer=$BUILDDIR/tests/verbs/verbs-peer
[ -x "$peer" ] || fail "$peer not built (make check builds it)"
for m in crc32_generic rdma_rxe veth; do
	modprobe "$m" || fail "modprobe $m failed"
done

cleanup() {
	rdma link delete rxeA 2>/dev/null
	rdma link delete rxeB 2>/dev/null
	ip netns delete vwA 2>/dev/null
	ip netns delete vwB 2>/dev/null
}
trap cleanup EXIT
cleanup
ip netns add vwA && ip netns add vwB || fail "ip netns add failed"
ip link add vethA type veth peer name vethB || fail "veth pair"
ip link set vethA netns vwA && ip link set vethB netns vwB || fail "veth move"
ip -n vwA addr add 169.254.78.1/24 dev vethA
ip -n vwB addr add 169.254.78.2/24 dev vethB
for n in vwA vwB; do
	ip -n $n link set lo up
done
ip -n vwA link set vethA up
ip -n vwB link set vethB up
ip netns exec vwA rdma link add rxeA type rxe netdev vethA ||
	fail "rdma link add rxeA (in vwA) failed"
ip netns exec vwB rdma link add rxeB type rxe netdev vethB ||
	fail "rdma link add rxeB (in vwB) failed"
rdma system show 2>/dev/null
rdma link show 2>/dev/null

gidx() { # the IPv4-mapped GID index of a device
	ibv_devinfo -v -d "$1" 2>/dev/null |
		sed -n 's/.*GID\[ *\([0-9]*\)\]:.*::ffff:.*/\1/p' | head -n 1
}
ga=$(gidx rxeA)
gb=$(gidx rxeB)
echo "rxeA IPv4 GID index ${ga:-?}, rxeB ${gb:-?}"
ibv_devinfo -v -d rxeA 2>/dev/null | grep -E 'GID|state|active_mtu'

# Can rxe carry traffic between the namespaces at all?
out=$TMPDIR/vnetns.$$
ip netns exec vwA timeout 60 ib_write_lat -F -d rxeA -x "${ga:-1}" -n 100 >"$out.srv" 2>&1 &
srv=$!
ok=no
for try in 1 2 3 4 5 6 7 8; do
	sleep 1
	if ip netns exec vwB timeout 60 ib_write_lat -F -d rxeB -x "${gb:-1}" -n 100 169.254.78.1 >"$out.cli" 2>&1; then
		ok=yes
		break
	fi
	kill -0 $srv 2>/dev/null || break
done
kill $srv 2>/dev/null
wait $srv 2>/dev/null
if [ $ok != yes ]; then
	echo "--- perftest between the namespaces:"
	cat "$out.cli"
	echo "--- server:"
	cat "$out.srv"
	skip "rdma_rxe on kernel $(uname -r) cannot carry traffic between network namespaces (perftest ib_write_lat fails too)"
fi
echo "perftest ib_write_lat between the namespaces: $(grep -E '^ *2 +100 ' "$out.cli" | awk '{ print "typical", $5, "us" }')"

name=vnetns.$$
ip netns exec vwA env WIN_TRANSPORTS=verbs WIN_VERBS_DEVICE=rxeA \
	timeout 180 "$peer" $name 0 2 &
pa=$!
ip netns exec vwB env WIN_TRANSPORTS=verbs WIN_VERBS_DEVICE=rxeB \
	timeout 180 "$peer" $name 1 2
sb=$?
wait $pa
sa=$?
echo "verbs-peer in vwA: status $sa, in vwB: status $sb"
[ $sa -eq 0 ] && [ $sb -eq 0 ] || fail "verbs-peer across namespaces failed"
# The traffic really went over the veth pair.
ip -n vwA -s link show vethA | sed -n '1,6p'
rm -f "$out.srv" "$out.cli"
