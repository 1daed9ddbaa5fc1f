#!/usr/bin/env bash
# The main job on the embedded default: import the built-in problems and show them.
# Grows with the product: generate, search, evaluate and report are added as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
TTCS=".venv/bin/ttcs --db demo.db"
$TTCS problems import builtin:arith --limit 20 >/dev/null
$TTCS problems list --dataset arith
