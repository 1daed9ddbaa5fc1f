#!/usr/bin/env bash
# The main job on the embedded default (SmolLM2-135M-Instruct on vLLM-CPU, the model-free
# sympy-steps verifier, builtin:arith): a small PRM-guided beam search, graded and reported.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${DEMO_DB:-demo.db}
TTCS=(.venv/bin/ttcs --db "$DB")
RUN=demo-beam

echo "== problems (builtin:arith, levels 1-5)" >&2
"${TTCS[@]}" problems import builtin:arith --limit 10 >/dev/null
"${TTCS[@]}" problems list --dataset arith

echo "== beam search: N=8, beam width 4 (resumes if interrupted)" >&2
"${TTCS[@]}" search --config recipes/cpu/beam.yaml --dataset arith --limit 10 --max-tokens 192 --name "$RUN"

echo "== grading and predictions at N = 1, 2, 4, 8" >&2
"${TTCS[@]}" evaluate --run "$RUN" >/dev/null

echo "== accuracy by method and budget N" >&2
"${TTCS[@]}" report "$RUN"
"${TTCS[@]}" report "$RUN" --by-level
echo "Explore the tree: sqlite3 $DB 'SELECT depth, status, COUNT(*) FROM node GROUP BY 1, 2'" >&2
