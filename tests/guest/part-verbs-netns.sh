#!/bin/bash
# Two "hosts" in one guest: two Soft-RoCE devices joined by a veth pair, one
# process in each of two network namespaces (vwA uses rxeA, vwB uses rxeB).
# The processes form a named group through /dev/shm (shared by network
# namespaces) and check put/get/vectors/atomics/locks/active target/
# put-with-signal results with WIN_TRANSPORTS=verbs; every RDMA packet
# crosses the veth pair (its counters are checked).
#
# Where the wire lives: rdma_rxe on the guest's kernel (6.1) opens its RoCE
# v2 UDP socket and resolves routes in the initial network namespace only, so a veth
# end moved into another namespace never hands packets to rxe (perftest fails
# the same way). The veth ends therefore stay in the initial namespace, and
# policy routing sends traffic between their two local addresses out of the
# wire instead of through the loopback: rule "oif vethA" -> table 101 (route
# to .2 via vethA), "oif vethB" -> table 102; the local table is looked up
# after those rules; rp_filter off and accept_local on so each end accepts
# packets from the other's (local) address. rxe sets the outgoing interface
# of every route lookup to its netdev, so its traffic takes the wire. The
# processes' own namespaces contain only lo: they reach their devices
# through the RDMA subsystem (shared namespace mode), as a container would.
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
	ip link delete vethA 2>/dev/null
	ip rule del pref 10 2>/dev/null
	ip rule del pref 11 2>/dev/null
	ip rule show | grep -q '^0:' || ip rule add pref 0 lookup local
	ip rule del pref 100 2>/dev/null
	ip netns delete vwA 2>/dev/null
	ip netns delete vwB 2>/dev/null
}
trap cleanup EXIT
cleanup
ip link add vethA type veth peer name vethB || fail "veth pair"
ip addr add 169.254.78.1/24 dev vethA
ip addr add 169.254.78.2/24 dev vethB
for d in all vethA vethB; do
	sysctl -qw net.ipv4.conf.$d.rp_filter=0 net.ipv4.conf.$d.accept_local=1 ||
		fail "sysctl on $d"
done
ip link set vethA up && ip link set vethB up || fail "veth up"
ip rule add pref 10 oif vethA lookup 101 &&
	ip rule add pref 11 oif vethB lookup 102 &&
	ip route add 169.254.78.2 dev vethA src 169.254.78.1 table 101 &&
	ip route add 169.254.78.1 dev vethB src 169.254.78.2 table 102 &&
	ip rule add pref 100 lookup local &&
	ip rule del pref 0 || fail "policy routing"
ip route get 169.254.78.2 oif vethA | grep -q 'dev vethA' ||
	fail "the route to 169.254.78.2 does not take vethA: $(ip route get 169.254.78.2 oif vethA)"
rdma link add rxeA type rxe netdev vethA || fail "rdma link add rxeA failed"
rdma link add rxeB type rxe netdev vethB || fail "rdma link add rxeB failed"
ip netns add vwA && ip netns add vwB || fail "ip netns add failed"
ip -n vwA link set lo up && ip -n vwB link set lo up || fail "netns lo"
rdma system show 2>/dev/null
rdma link show 2>/dev/null

gidx() { # the IPv4-mapped GID index of a device
	ibv_devinfo -v -d "$1" 2>/dev/null |
		sed -n 's/.*GID\[ *\([0-9]*\)\]:.*::ffff:.*/\1/p' | head -n 1
}
ga=$(gidx rxeA)
gb=$(gidx rxeB)
echo "rxeA IPv4 GID index ${ga:-?}, rxeB ${gb:-?}"
[ -n "$ga" ] && [ -n "$gb" ] || fail "no IPv4-mapped GID on rxeA/rxeB"
ip netns exec vwA ibv_devices | grep -qw rxeA ||
	fail "rxeA not visible from namespace vwA (rdma system netns mode?)"

# tx_packets of a veth end
txp() { cat "/sys/class/net/$1/statistics/tx_packets"; }

# perftest over the wire first: the path itself works.
out=$TMPDIR/vnetns.$$
timeout 60 ib_write_lat -F -d rxeA -x "$ga" -n 200 -p 18601 >"$out.srv" 2>&1 &
srv=$!
ok=no
for try in 1 2 3 4 5 6 7 8; do
	sleep 1
	if timeout 60 ib_write_lat -F -d rxeB -x "$gb" -n 200 -p 18601 169.254.78.1 >"$out.cli" 2>&1; then
		ok=yes
		break
	fi
	kill -0 $srv 2>/dev/null || break
done
wait $srv 2>/dev/null
if [ $ok != yes ]; then
	echo "--- perftest rxeB -> rxeA:"
	cat "$out.cli"
	echo "--- server:"
	cat "$out.srv"
	fail "perftest ib_write_lat between rxeA and rxeB over the veth pair failed"
fi
echo "perftest ib_write_lat rxeB -> rxeA: $(awk '$1 == 2 && $2 == 200 { print "typical", $5, "us" }' "$out.cli")"

name=vnetns.$$
a0=$(txp vethA)
b0=$(txp vethB)
ip netns exec vwA env WIN_TRANSPORTS=verbs WIN_VERBS_DEVICE=rxeA \
	timeout 180 "$peer" $name 0 2 &
pa=$!
ip netns exec vwB env WIN_TRANSPORTS=verbs WIN_VERBS_DEVICE=rxeB \
	timeout 180 "$peer" $name 1 2
sb=$?
wait $pa
sa=$?
echo "verbs-peer in vwA (rxeA): status $sa, in vwB (rxeB): status $sb"
[ $sa -eq 0 ] && [ $sb -eq 0 ] || fail "verbs-peer across the two devices failed"
da=$(($(txp vethA) - a0))
db=$(($(txp vethB) - b0))
echo "packets sent over the wire during verbs-peer: vethA $da, vethB $db"
[ $da -gt 100 ] && [ $db -gt 100 ] ||
	fail "the traffic did not cross the veth pair (vethA $da, vethB $db packets)"
rm -f "$out.srv" "$out.cli"
