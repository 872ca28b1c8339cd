#!/usr/bin/env bash
# Installs the Debian packages xvs's build, tests and demo need, when missing.
set -euo pipefail

pkgs=(clang-19 llvm-19 libbpf-dev bpftool iproute2 ethtool util-linux ipvsadm curl busybox-static)
# The kernel-IPVS test VM (scripts/vm/run.sh): qemu, busybox, objcopy (binutils).
pkgs+=(qemu-system-x86 binutils)
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
