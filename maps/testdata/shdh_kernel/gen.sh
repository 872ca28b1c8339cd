#!/bin/sh
# Regenerates ../shdh_kernel.golden: runs the kernel's own sh and dh
# schedulers (ip_vs_sh.c, ip_vs_dh.c and include/linux/hash.h of Debian's
# linux-source-6.1, unmodified) through main.c. Needs gcc and
#   apt-get install linux-source-6.1
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tarball=${KSRC_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
top=$(basename "$tarball" .tar.xz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tar -xJf "$tarball" -C "$work" --strip-components=1 \
	"$top/net/netfilter/ipvs/ip_vs_sh.c" "$top/net/netfilter/ipvs/ip_vs_dh.c" "$top/include/linux/hash.h"
mkdir -p "$work/inc/linux"
cp "$work/include/linux/hash.h" "$work/inc/linux/"
gcc -std=gnu11 -O2 -Wall -Wno-unused-function -Wno-unused-variable \
	-I "$work/inc" -I "$here/../kshim" -I "$work/net/netfilter/ipvs" \
	-o "$work/shdh" "$here/main.c"
"$work/shdh" >"$work/golden"
mv "$work/golden" "$here/../shdh_kernel.golden"
