#!/usr/bin/env bash
# replace-section.sh FILE NAME NEW: replaces the lines of FILE between the
# marker lines `<!-- begin make bench: NAME -->` and
# `<!-- end make bench: NAME -->` with the contents of NEW, so each benchmark
# writes only its own section of docs/BENCHMARKS.md and the section's
# headings can change without touching the Makefile. Without the markers in
# FILE, NEW is appended between new markers.
set -euo pipefail
file=$1 name=$2 new=$3
begin="<!-- begin make bench: $name -->"
end="<!-- end make bench: $name -->"
touch "$file"
if grep -qxF "$begin" "$file" && ! grep -qxF "$end" "$file"; then
	echo "replace-section: $file has \"$begin\" but no \"$end\"" >&2
	exit 1
fi
awk -v begin="$begin" -v end="$end" -v new="$new" '
	function emit(  line) { print begin; while ((getline line < new) > 0) print line; close(new); print end; done = 1 }
	$0 == begin && !done { emit(); skip = 1; next }
	skip && $0 == end { skip = 0; next }
	!skip { print }
	END { if (!done) emit() }
' "$file" >"$file.tmp"
mv "$file.tmp" "$file"
