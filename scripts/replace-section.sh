#!/usr/bin/env bash
# replace-section.sh FILE BEGIN END NEW: replaces the lines of FILE from the
# line equal to BEGIN up to (not including) the line equal to END with the
# contents of NEW, so each benchmark writes only its own section of
# docs/BENCHMARKS.md. Without BEGIN in FILE, NEW is appended.
set -euo pipefail
file=$1 begin=$2 end=$3 new=$4
touch "$file"
awk -v begin="$begin" -v end="$end" -v new="$new" '
	function emit(  line) { while ((getline line < new) > 0) print line; close(new); done = 1 }
	$0 == begin && !done { emit(); skip = 1; next }
	skip && $0 == end { skip = 0 }
	!skip { print }
	END { if (!done) emit() }
' "$file" >"$file.tmp"
mv "$file.tmp" "$file"
