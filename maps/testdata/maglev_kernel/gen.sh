#!/bin/sh
# Regenerates ../maglev_kernel.golden: runs the kernel's own Maglev code
# (ip_vs_mh.c and lib/siphash.c of Debian's linux-source-6.1, unmodified)
# through main.c for several table sizes. Needs gcc and
#   apt-get install linux-source-6.1
# Exits non-zero if bpf/siphash.h disagrees with the kernel.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tarball=${KSRC_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
top=$(basename "$tarball" .tar.xz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tar -xJf "$tarball" -C "$work" --strip-components=1 \
	"$top/net/netfilter/ipvs/ip_vs_mh.c" "$top/lib/siphash.c" "$top/include/linux/siphash.h" "$top/include/linux/hash.h"
mkdir -p "$work/inc/linux"
cp "$work/include/linux/siphash.h" "$work/include/linux/hash.h" "$work/inc/linux/"

# CONFIG_IP_VS_MH_TAB_INDEX: 8 -> 251, 9 -> 509, 12 -> 4093 (Debian's), 17 -> 131071.
for idx in 8 9 12 17; do
	gcc -std=gnu11 -O2 -Wall -Wno-unused-function -DCONFIG_IP_VS_MH_TAB_INDEX=$idx \
		-I "$work/inc" -I "$here/../kshim" -I "$work/net/netfilter/ipvs" \
		-o "$work/mh$idx" "$here/main.c" "$work/lib/siphash.c"
	"$work/mh$idx"
done >"$work/golden"
mv "$work/golden" "$here/../maglev_kernel.golden"
