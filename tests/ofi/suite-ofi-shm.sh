#!/bin/sh
# The whole suite over the ofi transport on libfabric's shm provider.
exec "$(dirname "$0")/suite-ofi.sh" shm
