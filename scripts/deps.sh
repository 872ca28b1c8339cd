#!/usr/bin/env bash
# Installs, when missing, every Debian package that tests/deps/programs.list
# names: the programs make demo, make test, make bench and the test VM run
# (plus any package names given as arguments). The Go toolchain is the one
# exemption: the operator installs it by hand (README).
# scripts/check-deps.sh then checks the list against the code and dpkg.
set -euo pipefail
cd "$(dirname "$0")/.."
list=tests/deps/programs.list

mapfile -t pkgs < <(awk '$1 !~ /^#/ && NF >= 2 && $2 !~ /^=/ && !seen[$2]++ { print $2 }' "$list")
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: need root to install packages" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bpffs, for pins.
if [ "$(id -u)" -eq 0 ] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
