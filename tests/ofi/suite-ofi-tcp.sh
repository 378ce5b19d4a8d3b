#!/bin/sh
# The whole suite over the ofi transport on libfabric's tcp provider.
exec "$(dirname "$0")/suite-ofi.sh" tcp
