#!/usr/bin/env bash
# Boots Debian's stock kernel (which has IPVS and ipip as modules) under
# qemu TCG with an initramfs holding busybox, the host's ipvsadm and ip, a
# static xvsadm and a static Go test binary, runs the binary inside and
# writes what it printed and its /out directory to OUTDIR.
#
#   scripts/vm/run.sh TEST_BINARY XVSADM_BINARY OUTDIR [TEST ARGS...]
#
# The kernel package is fetched once with apt-get download and unpacked
# with dpkg -x into .cache/vm/ of the build tree (never installed).
# OUTDIR gets: console.log (the whole serial console), test.log (the test
# binary's output, exact bytes), rc (its exit status) and out/ (files the
# tests wrote under /out). The script exits 0 when the VM ran and reported,
# whatever the tests' status (the caller judges rc), and 1 otherwise.
set -euo pipefail

if [ $# -lt 3 ]; then
	echo "usage: $0 TEST_BINARY XVSADM_BINARY OUTDIR [TEST ARGS...]" >&2
	exit 2
fi
testbin=$(realpath "$1"); xvsadm=$(realpath "$2"); outdir=$3; shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${XVS_VM_CACHE:-$root/.cache/vm}
mkdir -p "$cache" "$outdir"

for tool in qemu-system-x86_64 busybox ipvsadm objcopy; do
	command -v "$tool" >/dev/null || { echo "vm: $tool missing (make deps)" >&2; exit 1; }
done

# 1. The kernel package, cached by name.
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { echo "vm: cannot name the kernel package (apt-cache depends linux-image-amd64)" >&2; exit 1; }
kdir=$cache/$pkg
if [ ! -f "$kdir/.done" ]; then
	rm -rf "$kdir" "$cache"/dl.*
	dl=$(mktemp -d "$cache/dl.XXXXXX")
	(cd "$dl" && apt-get download "$pkg" >/dev/null 2>&1) || { rm -rf "$dl"; echo "vm: apt-get download $pkg failed" >&2; exit 1; }
	mkdir -p "$kdir.tmp" && dpkg -x "$dl"/*.deb "$kdir.tmp" && rm -rf "$dl"
	mv "$kdir.tmp" "$kdir" && touch "$kdir/.done"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$kdir/lib/modules/$kver/kernel

# 2. The modules, with their depends= (from .modinfo), in load order
# (xfrm_user and nfnetlink: netlink handles in namespaces open those families;
# sctp: the endpoints of the slow-path test's SCTP associations; sch_ingress,
# cls_u32, act_skbedit: its tc filter that marks packets for a fwmark service;
# bridge: the tests' topologies).
declare -A modpath=() loaded=()
while IFS= read -r f; do b=${f##*/}; modpath[${b%.ko}]=$f; done < <(find "$moddir" -name '*.ko')
order=()
modinfo_depends() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}
want() {
	local m=${1//-/_} d
	[ -n "${loaded[$m]:-}" ] && return 0
	local p=${modpath[$m]:-${modpath[${1}]:-}}
	[ -n "$p" ] || { echo "vm: module $1 not in $pkg" >&2; exit 1; }
	loaded[$m]=1
	for d in $(modinfo_depends "$p"); do want "$d"; done
	order+=("$p")
}
want crc32c_generic
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh \
	ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_fo ip_vs_ovf nf_conntrack_sip ip_vs_pe_sip nf_nat veth ipip ip6_tunnel \
	xfrm_user nfnetlink bridge sctp sch_ingress cls_u32 act_skbedit; do
	want "$m"
done

# 3. The initramfs.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ir=$work/root
mkdir -p "$ir"/{bin,sbin,usr/sbin,etc,proc,sys,dev,tmp,run,out,mods,var/run/netns}
cp "$(command -v busybox)" "$ir/bin/busybox"
for a in $("$ir/bin/busybox" --list); do
	[ "$a" = ip ] || [ -e "$ir/bin/$a" ] || ln -s busybox "$ir/bin/$a"
done
for b in /usr/sbin/ipvsadm /usr/sbin/ip /usr/sbin/tc /usr/bin/nsenter; do
	[ -x "$b" ] || { echo "vm: $b missing (make deps)" >&2; exit 1; }
	mkdir -p "$ir$(dirname "$b")"; cp "$b" "$ir$b"
	for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
		mkdir -p "$ir$(dirname "$lib")"; cp -L "$lib" "$ir$lib"
	done
done
[ -e "$ir/lib64" ] || { [ -d /lib64 ] && mkdir -p "$ir/lib64" && cp -L /lib64/ld-linux-x86-64.so.2 "$ir/lib64/"; }
cp /etc/services /etc/protocols "$ir/etc/"
echo 'hosts: files' > "$ir/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' > "$ir/etc/hosts"
i=0; : > "$ir/mods/order"
for p in "${order[@]}"; do
	i=$((i + 1)); n=$(printf '%02d-%s' "$i" "${p##*/}")
	cp "$p" "$ir/mods/$n"; echo "$n" >> "$ir/mods/order"
done
cp "$testbin" "$ir/bin/vm.test"
cp "$xvsadm" "$ir/usr/sbin/xvsadm"
printf '%s\n' "$@" > "$ir/test.args"
cat > "$ir/init" <<'INIT'
#!/bin/busybox sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp XVS_IN_VM=1
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run; mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for m in $(cat /mods/order); do insmod /mods/$m || echo "XVS-VM: insmod $m failed"; done
/usr/sbin/ip link set lo up
set --; while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "$a"; done < /test.args
echo "XVS-VM: running tests"
cd /out && /bin/vm.test -test.v "$@" > /tmp/test.log 2>&1
rc=$?
echo "XVS-VM-RC: $rc"
echo "XVS-VM-LOG-BEGIN"; base64 /tmp/test.log; echo "XVS-VM-LOG-END"
echo "XVS-VM-OUT-BEGIN"; tar -C /out -cf - . | base64; echo "XVS-VM-OUT-END"
sync; poweroff -f
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | "$ir/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

# 4. Boot (TCG: nested KVM does not work here). A hung VM is killed.
timeout "${XVS_VM_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -m "${XVS_VM_MEM:-2048}" -smp 2 \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append 'console=ttyS0 quiet panic=-1 oops=panic' \
	-no-reboot -serial stdio -monitor none -display none </dev/null \
	| tr -d '\r' > "$outdir/console.log" || true

# 5. Results from the console.
log=$outdir/console.log
rc=$(sed -n 's/^XVS-VM-RC: \([0-9]*\)$/\1/p' "$log" | tail -1)
if [ -z "$rc" ]; then
	echo "vm: the VM did not report (see $log)" >&2
	tail -30 "$log" >&2
	exit 1
fi
echo "$rc" > "$outdir/rc"
sed -n '/^XVS-VM-LOG-BEGIN$/,/^XVS-VM-LOG-END$/p' "$log" | sed '1d;$d' | base64 -d > "$outdir/test.log"
mkdir -p "$outdir/out"
sed -n '/^XVS-VM-OUT-BEGIN$/,/^XVS-VM-OUT-END$/p' "$log" | sed '1d;$d' | base64 -d | tar -C "$outdir/out" -xf -
