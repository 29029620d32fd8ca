#!/bin/sh
# run.sh runs the benchmark suite with -count 5 and writes docs/BENCHMARKS.md:
# benchstat's summary of the raw results and, per group of rows, each figure
# beside its raw baseline as a ratio from the same run. The prose around the
# tables lives in docs/BENCHMARKS.prose.md; nothing in the tables is typed in.
#
# Usage: bench/run.sh [extra go test flags]   (COUNT=n to change -count)
set -eu
cd "$(dirname "$0")"
root=$(cd .. && pwd)
count=${COUNT:-5}
tools="$root/.tools"
mkdir -p "$tools"
if [ ! -x "$tools/benchstat" ]; then
	GOBIN="$tools" go install golang.org/x/perf/cmd/benchstat@latest
fi
# The Socket.IO rows' server and Node client, pinned by node/package-lock.json.
if [ ! -d node/node_modules/socket.io-client ]; then
	npm ci --prefix node --no-audit --no-fund
fi
cmd1="go test -run ^\$ -bench ^Benchmark(Throughput|Throughput4KiB|Latency|Failover)\$ -count $count $*"
cmd2="go test -run ^\$ -bench ^BenchmarkIdle\$ -benchtime 1x -count $count $*"
# 10,000 idle WebSocket subscriptions in one process (and as many
# connections in the server's): one count, the open-files limit raised.
cmd3="go test -run ^\$ -bench ^BenchmarkIdleCrowd\$ -benchtime 1x -count 1 $*"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ -n "${RAW:-}" ]; then
	# Regenerate the document from a saved run (RAW and RAW.intact): the
	# run's span is read from the files' modification times (RAW.intact is
	# written first, RAW last).
	raw=$RAW
	started=$(stat -c %Y "$raw.intact")
	finished=$(stat -c %Y "$raw")
else
	raw=$(mktemp)
	trap 'rm -f "$raw" "$raw.intact"' EXIT
	started=$(date +%s)
	go test -count=1 -run TestIntact -v . >"$raw.intact" 2>&1 || { cat "$raw.intact"; exit 1; }
	$cmd1 . | tee "$raw"
	$cmd2 . | tee -a "$raw"
	$cmd3 . | tee -a "$raw"
	finished=$(date +%s)
fi
utc() { date -u -d "@$1" '+%Y-%m-%d %H:%M UTC'; }

out="$root/docs/BENCHMARKS.md"
mkdir -p "$root/docs"
{
	cat "$root/docs/BENCHMARKS.prose.md"
	echo
	echo "## Run"
	echo
	echo '```'
	echo "run:     $(utc "$started") to $(utc "$finished")"
	echo "written: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "go:      $(go version)"
	echo "machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "memory:  $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "command: cd bench && $cmd1 . && $cmd2 . && $cmd3 .   (via bench/run.sh)"
	echo '```'
	echo
	echo "## Intact delivery (TestIntact: $(grep -c -- '--- PASS: TestIntact/' "$raw.intact") rows intact, $(grep -c -- '--- SKIP: TestIntact/' "$raw.intact") not)"
	echo
	echo '```'
	grep -E -- '--- (PASS|SKIP|FAIL): TestIntact/|NOT INTACT' "$raw.intact" | sed 's/ (.*s)$//'
	echo '```'
	echo
	echo "## Tables (medians of $count runs; ratio to the first row of each table)"
	go run ./cmd/report "$raw"
	echo
	echo "## benchstat"
	echo
	echo '```'
	"$tools/benchstat" "$raw"
	echo '```'
} >"$out"
echo "wrote $out"
