#!/usr/bin/env bash
# `npm run up`: brings nagaya up on this machine (as root): services, dependencies, build,
# schema, the default ID pool. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
npm run --silent migrate
npx tsx scripts/pool-report.ts
