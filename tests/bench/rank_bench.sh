#!/bin/sh
# Build tests/bench/rank_bench against a build dir's quench_core (default
# build-rank, configure and build it first). Usage: rank_bench.sh [BUILD]
set -e
cd "$(dirname "$0")/../.."
B=${1:-build-rank}
cmake --build "$B" --target quench_core -j2 >/dev/null
cc -std=c11 -O2 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Isrc \
   tests/bench/rank_bench.c "$B/libquench_core.a" \
   $(pkg-config --libs libmicrohttpd hiredis libcurl libcrypto jansson yaml-0.1 lua5.4) \
   -lev -lm -o "$B/rank_bench"
echo "$B/rank_bench"
