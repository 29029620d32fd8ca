#!/usr/bin/env bash
# Runs the long chaos soak (internal/chaos, build tag chaos) and writes its
# figures to docs/RELIABILITY.md. It installs only what .ci/run installs: the
# Toxiproxy server binary under .tools/bin and the node server's pinned
# packages, each only when missing.
#
# Usage: internal/chaos/run-long.sh [extra go test flags, e.g. -chaos.seed=42 or -race]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"

if [ -z "${TOXIPROXY_SERVER:-}" ] && [ ! -x .tools/bin/toxiproxy-server ]; then
  GOBIN="$PWD/.tools/bin" go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0
  mv .tools/bin/server .tools/bin/toxiproxy-server
fi
if [ ! -d internal/nodeserver/node_modules/ws ] || [ ! -d internal/nodeserver/node_modules/express ]; then
  npm ci --prefix internal/nodeserver
fi
# The crowd scenario holds 2,000+ sockets in one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p docs
rm -f docs/RELIABILITY.md
start=$(date +%s)
status=0
go test -tags chaos -count=1 -timeout 60m -v -parallel 4 ./internal/chaos/ \
  -chaos.long -chaos.report="$PWD/docs/RELIABILITY.md" "$@" || status=$?
elapsed=$(( $(date +%s) - start ))
if [ -f docs/RELIABILITY.md ]; then
  printf '\nThe long run (`internal/chaos/run-long.sh`) took %dm%02ds of wall time and exited with status %d.\n' \
    $((elapsed / 60)) $((elapsed % 60)) "$status" >> docs/RELIABILITY.md
fi
echo "run-long.sh: finished in ${elapsed}s with status $status; figures in docs/RELIABILITY.md"
exit "$status"
