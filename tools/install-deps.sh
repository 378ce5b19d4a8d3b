#!/bin/sh
# Install what libwin needs to build, test and benchmark on Debian.
# Run as root (or with sudo). Optional parts (verbs, libfabric, MPI, PMIx)
# are installed too, so configure builds everything it can.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (sudo $0)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	check libsubunit-dev \
	openmpi-bin libopenmpi-dev \
	libibverbs-dev libfabric-dev libpmix-dev \
	mpich libmpich-dev
# The in-guest tests (kshim module, Soft-RoCE verbs): a Debian kernel with
# headers to build the module against and boot under qemu, busybox for the
# guest's initramfs, and rdma-core's user space with perftest.
apt-get install -y -q --no-install-recommends \
	qemu-system-x86 busybox-static linux-image-amd64 linux-headers-amd64 \
	kmod cpio iproute2 \
	rdma-core ibverbs-providers ibverbs-utils librdmacm-dev perftest
