#!/usr/bin/env bash
# The main job on the embedded default (SmolLM2-135M-Instruct on vLLM-CPU, the model-free
# sympy-steps verifier, builtin:arith): a small PRM-guided beam search, graded and reported.
set -euo pipefail
cd "$(dirname "$0")/.."
export VLLM_LOGGING_LEVEL=${VLLM_LOGGING_LEVEL:-WARNING}  # keep stderr to ttcs's own progress
DB=${DEMO_DB:-demo.db}
TTCS=(.venv/bin/ttcs --db "$DB")
RUN=demo-beam

echo "== problems (builtin:arith, levels 1-5)" >&2
"${TTCS[@]}" problems import builtin:arith --limit 6 >/dev/null
"${TTCS[@]}" problems list --dataset arith

echo "== beam search: N=4, beam width 2, up to 4 steps (resumes if interrupted)" >&2
"${TTCS[@]}" search --config recipes/cpu/beam.yaml --dataset arith --limit 6 --n 4 --beam-width 2 \
  --num-iterations 4 --max-tokens 96 --name "$RUN"

echo "== grading and predictions at N = 1, 2, 4" >&2
"${TTCS[@]}" evaluate --run "$RUN" >/dev/null

echo "== accuracy by method and budget N" >&2
"${TTCS[@]}" report "$RUN"
"${TTCS[@]}" report "$RUN" --by-level
echo "Explore the tree: sqlite3 $DB 'SELECT depth, status, COUNT(*) FROM node GROUP BY 1, 2'" >&2
