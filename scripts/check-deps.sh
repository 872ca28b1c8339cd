#!/usr/bin/env bash
# check-deps.sh [LIST]: the guard `make test` runs before any test, so that
# a machine with extra packages cannot hide a missing install step.
#  1. Every program the repository runs (Go code, scripts, Makefile,
#     go:generate, the datapath's system headers) is in LIST
#     (tests/deps/cmd/depscan), and Go code runs programs only through
#     tests/deps.Command.
#  2. Every program and file of LIST is there, and the file it resolves to
#     belongs to the Debian package LIST names, by dpkg's file ownership
#     (dpkg -S of the path, of its real path, and of their /usr-merge
#     aliases: dpkg may know /bin/ip but not /usr/bin/ip) -- not merely
#     something found in PATH.
# Each failure names the program and its package; exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."
list=${1:-tests/deps/programs.list}
fails=0
fail() {
	echo "check-deps: $*" >&2
	fails=$((fails + 1))
}

# 1. Nothing runs that the list does not name.
go run ./tests/deps/cmd/depscan -list "$list" || fail "the code runs programs $list does not name (above)"

# 2. Resolve each entry to a file and its candidate paths for dpkg.
declare -A file=() cands=()
names=() pkgs=() all=()
while read -r name pkg _; do
	case $name in '' | '#'*) continue ;; esac
	case $pkg in
	=project)
		if [[ $name == */* && ! -e $name ]]; then
			fail "$name: listed as the project's own, but the repository has no such file"
		fi
		continue
		;;
	=operator)
		type -P "$name" >/dev/null || fail "$name: not in PATH: the Go toolchain is installed by hand (README)"
		continue
		;;
	esac
	if [[ $name == /* ]]; then
		p=$name
		if [ ! -e "$p" ]; then
			p=
		fi
	else
		p=$(type -P "$name") || p=
	fi
	if [ -z "$p" ]; then
		if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
			fail "$name: not found, though package $pkg is installed: $list names the wrong package for $name"
		else
			fail "$name: not found: package $pkg is not installed (make deps installs it)"
		fi
		continue
	fi
	c=("$p")
	if r=$(realpath -e "$p" 2>/dev/null) && [ "$r" != "$p" ]; then
		c+=("$r")
	fi
	for x in "${c[@]}"; do
		case $x in
		/usr/bin/* | /usr/sbin/* | /usr/lib/* | /usr/lib64/*) c+=("${x#/usr}") ;;
		/bin/* | /sbin/* | /lib/* | /lib64/*) c+=("/usr$x") ;;
		esac
	done
	names+=("$name") pkgs+=("$pkg")
	file[$name]=$p
	cands[$name]=${c[*]}
	all+=("${c[@]}")
done <"$list"

# One dpkg-query for every path: lines "pkg[:arch][, pkg...]: PATH".
declare -A owners=()
if [ ${#all[@]} -gt 0 ]; then
	while IFS= read -r line; do
		case $line in 'diversion '* | '') continue ;; esac
		path=${line##*: }
		for o in $(echo "${line%: *}" | tr ',' ' '); do
			owners[$path]+=" ${o%%:*}"
		done
	done < <(dpkg-query -S "${all[@]}" 2>/dev/null || true)
fi

for i in "${!names[@]}"; do
	name=${names[$i]} pkg=${pkgs[$i]} found=
	for x in ${cands[$name]}; do
		found+=${owners[$x]:-}
	done
	case " $found " in
	*" $pkg "*) ;;
	*)
		found=$(printf '%s\n' $found | awk '!seen[$0]++' | tr '\n' ' ')
		fail "$name: ${file[$name]} belongs to ${found:-no package }(dpkg -S), not to $pkg as $list says: list $name under the package that provides it"
		;;
	esac
done

if [ "$fails" -gt 0 ]; then
	echo "check-deps: $fails problem(s): fix $list (scripts/deps.sh installs what it names)" >&2
	exit 1
fi
echo "check-deps: every program the code runs is listed and provided by the package $list names"
