#!/usr/bin/env bash
# `npm run lint` checks, `npm run format` (lint.sh --write) rewrites: Biome for TypeScript, JavaScript,
# JSON and CSS (formatter and linter, biome.json); clang-format for the C and C++ of packages/native
# (.clang-format). CI runs the check before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
write=false
[ "${1:-}" = "--write" ] && write=true

if ! command -v clang-format >/dev/null; then
  echo "lint: clang-format is missing; install Debian's clang-format (scripts/ensure-services.sh does)" >&2
  exit 1
fi
mapfile -t c_files < <(git ls-files 'packages/native/**/*.c' 'packages/native/**/*.h' 'packages/native/**/*.cc')

if $write; then
  npx biome check --write .
  clang-format -i "${c_files[@]}"
else
  npx biome ci .
  clang-format --dry-run -Werror "${c_files[@]}"
fi
