# ofi-env.sh: sourced by ofi-compare.sh and ofi-rounds.sh once their
# options are read (needs $prov). Sets WINBENCH and OFIBENCH (kept if set;
# else the programs next to the script, then in the current directory),
# makes $prov libwin's provider, and keeps tcp traffic on loopback.
ofi_find_prog() {
	for p in "$(dirname "$0")/$1" "./$1"; do
		[ -x "$p" ] && { echo "$p"; return 0; }
	done
	echo "$(basename "$0" .sh): $1 not found (build it first)" >&2
	return 1
}
WINBENCH=${WINBENCH:-$(ofi_find_prog winbench)} || exit 1
OFIBENCH=${OFIBENCH:-$(ofi_find_prog ofibench)} || exit 1
FI_TCP_IFACE=lo
# shellcheck disable=SC2154 # set by the script that sources this
WIN_OFI_PROVIDER=$prov
export FI_TCP_IFACE WIN_OFI_PROVIDER
