#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, lints, runs every test (unit,
# integration, netns on the real kernel). Run as root for the kernel tests; the runner's
# last line is "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh --test
npm run --silent lint
export SWARMNET_LOG_LEVEL=${SWARMNET_LOG_LEVEL:-warn}
node dist/test/support/run-suite.js
