#!/usr/bin/env bash
# Builds the release binary and ships it lean.
#
#   ./scripts/release.sh        -> target/release/dist/fjord and fjord.debug
#
# The release profile keeps line tables for Fjord's own crates (none for
# dependencies), but the C libraries linked in (librdkafka, SQLite, zstd)
# bring their own DWARF. Shipping all of it made an 80 MB binary. Here the
# debug sections move to fjord.debug, which the binary names in its
# .gnu_debuglink section: with fjord.debug beside fjord (or under
# /usr/lib/debug), a panic's backtrace still shows file:line; without it,
# the frames keep their names. The copy in target/release/ is left as
# cargo built it, so running this twice never strips twice.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v objcopy >/dev/null || { echo "release.sh: objcopy (binutils) is needed" >&2; exit 1; }
cargo build --release -p fjord
dist=target/release/dist
mkdir -p "$dist"
cp target/release/fjord "$dist/fjord.full"
objcopy --only-keep-debug "$dist/fjord.full" "$dist/fjord.debug"
# The debug link is relative: fjord.debug must sit beside fjord.
(cd "$dist" && objcopy --strip-debug --add-gnu-debuglink=fjord.debug fjord.full fjord)
rm "$dist/fjord.full"
size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }
echo "built: target/release/fjord $(size target/release/fjord)"
echo "ship:  $dist/fjord $(size "$dist/fjord"), with $dist/fjord.debug $(size "$dist/fjord.debug") for backtraces"
