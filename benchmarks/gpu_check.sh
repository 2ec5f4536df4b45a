#!/usr/bin/env bash
# The one GPU check of sambench (issues 11 and 14): run it when a GPU is lent; under 10 minutes.
#
#   benchmarks/gpu_check.sh                     # on a CUDA machine: the whole check, one table at the end
#   benchmarks/gpu_check.sh --cpu               # dry run of every step on CPU with sam-tiny (a few minutes)
#   benchmarks/gpu_check.sh --checkpoints DIR   # also hand a folder of real checkpoints to gpu_models.py
#   benchmarks/gpu_check.sh --only vit_h_bf16   # one step again (names: vit_b_bf16 vit_h_bf16
#                                               # vit_h_bf16_sdpa_compile vit_b_fp32_amg gpu_models)
#   benchmarks/gpu_check.sh --wheels .whl       # first install what the machine lacks (benchmarks/gpu_wheels.sh
#                                               # fetches it here) and sambench from this tree, under /tmp
#
# On the lent machine (the `device` tool; its image has torch but not segment-anything, sam2, pycocotools,
# nor sambench): here `benchmarks/gpu_wheels.sh` once, then run with carry [".whl"]:
#   PYTHONUNBUFFERED=1 benchmarks/gpu_check.sh --wheels .whl      (OUT, set there by the tool, gets the files)
#
# Steps (each under its own time limit, all within 10 minutes; results under $OUT, default gpu_check_out/:
# one JSON per benchmark step, gpu_models.md and one gpu_check.log, 6 files; images: 640x480 generated
# shapes, as the machine has no dataset):
#   1. bench_point.py, SAM ViT-B random weights, bf16: encoder vs sambench's point protocol vs the naive
#      SamPredictor loop, encoder batch sizes 1, 4, 8
#   2. the same with ViT-H, batch sizes 1, 8
#   3. ViT-H, bf16, fused attention (--sdpa) and a compiled encoder (--compile), batch 8
#   4. ViT-B in float32, no knobs: records identical to the naive loop's, and sambench's mask generator
#      against SamAutomaticMaskGenerator (outputs identical; it cannot run under bf16 autocast)
#   5. benchmarks/gpu_models.py [--quick] [--checkpoints DIR] (every model family, issue 11; its own table)
# then prints one table of the benchmark runs. Without CUDA it stops at once (exit 2) unless --cpu.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-$(command -v python3 || command -v python)}"
OUT="${OUT:-gpu_check_out}"
MODE=gpu
CHECKPOINTS=""
WHEELS=""
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu|--quick) MODE=cpu ;;
    --out) OUT="$2"; shift ;;
    --checkpoints) CHECKPOINTS="$2"; shift ;;
    --wheels) WHEELS="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$ONLY" in
  ""|vit_b_bf16|vit_h_bf16|vit_h_bf16_sdpa_compile|vit_b_fp32_amg|gpu_models) ;;
  *) echo "gpu_check: --only $ONLY: not a step (vit_b_bf16 vit_h_bf16 vit_h_bf16_sdpa_compile vit_b_fp32_amg gpu_models)" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
START=$(date +%s)

if [ -n "$WHEELS" ]; then  # a bare machine: the wheels, then sambench from this tree, into one folder on PYTHONPATH
  SITE="${SITE:-/tmp/sambench-site}"
  ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "gpu_check: no wheels in $WHEELS (run benchmarks/gpu_wheels.sh here first)" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
    || { echo "gpu_check: installing $WHEELS failed" >&2; exit 2; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$HERE/.." || { echo "gpu_check: installing sambench from $HERE/.. failed" >&2; exit 2; }
fi
# -P: not the working directory first on sys.path (the tree holds sambench/, but not as installed)
"$PY" -P - <<'PYEOF' || { echo "gpu_check: the packages above are missing (on a bare machine: --wheels DIR)" >&2; exit 2; }
import importlib, sys
missing = []
for name in ("torch", "segment_anything", "sambench.tasks.point", "sambench.datasets", "sam2", "segment_anything_hq",
             "transformers", "pycocotools"):
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - report every missing piece, then fail
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
import sambench, torch
print("gpu_check: sambench from", sambench.__path__[0], "| torch", torch.__version__)
if missing:
    print("gpu_check: cannot import: " + "; ".join(missing), file=sys.stderr)
    sys.exit(1)
PYEOF

if [ "$MODE" = gpu ]; then
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA device visible to torch (torch.cuda.is_available() is False); nothing was run." >&2
    echo "gpu_check: for a dry run of the same steps on CPU: benchmarks/gpu_check.sh --cpu" >&2
    exit 2
  fi
  "$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0), 'torch', torch.__version__, 'CUDA', torch.version.cuda)"
  COMMON=(--device cuda --data generated --repeats 3)
  B_SIZES=(--model vit_b --images 16 --images-per-batch 1,4,8 --no-amg)
  H_SIZES=(--model vit_h --images 16 --images-per-batch 1,8 --no-amg)
  KNOBS=(--model vit_h --images 16 --images-per-batch 8 --sdpa --compile --no-naive --no-amg --repeats 2)
  FP32=(--model vit_b --images 4 --images-per-batch 1 --amg-images 2)
  LIMITS=(90 100 120 70 120)    # seconds per step: 500 in all, so that with the install (--wheels) the
                                # whole check fits one 600 s device call
else
  echo "gpu_check: --cpu dry run (sam-tiny, 2 images): checks that every step runs, numbers mean nothing"
  COMMON=(--device cpu --quick --repeats 1 --amg-points 8 --amg-images 1)
  B_SIZES=(--images 2 --images-per-batch 1,2 --no-amg)
  H_SIZES=(--images 1 --images-per-batch 1 --no-naive --no-amg)
  KNOBS=(--images 1 --images-per-batch 1 --sdpa --compile --no-naive --no-amg)
  FP32=(--images 1 --images-per-batch 1)
  LIMITS=(600 600 900 600 600)
fi

FAILED=0
step() {  # step NAME LIMIT_S COMMAND...
  local name="$1" limit="$2"; shift 2
  if [ -n "$ONLY" ] && [ "$ONLY" != "$name" ]; then return 0; fi
  echo; echo "== $name (limit ${limit} s, $(( $(date +%s) - START )) s elapsed)"
  echo "== $name" >>"$OUT/gpu_check.log"
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT/gpu_check.log"   # one log: the device returns at most 8 files
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then echo "gpu_check: step $name failed (exit $rc, 124 = time limit)"; FAILED=1; fi
}

step vit_b_bf16 "${LIMITS[0]}" "$PY" "$HERE/bench_point.py" "${COMMON[@]}" "${B_SIZES[@]}" --dtype bf16 --json "$OUT/vit_b_bf16.json"
step vit_h_bf16 "${LIMITS[1]}" "$PY" "$HERE/bench_point.py" "${COMMON[@]}" "${H_SIZES[@]}" --dtype bf16 --json "$OUT/vit_h_bf16.json"
step vit_h_bf16_sdpa_compile "${LIMITS[2]}" "$PY" "$HERE/bench_point.py" "${COMMON[@]}" "${KNOBS[@]}" --dtype bf16 \
  --json "$OUT/vit_h_bf16_sdpa_compile.json"
step vit_b_fp32_amg "${LIMITS[3]}" "$PY" "$HERE/bench_point.py" "${COMMON[@]}" "${FP32[@]}" --dtype fp32 \
  --json "$OUT/vit_b_fp32_amg.json"
if [ -f "$HERE/gpu_models.py" ]; then
  MODELS_ARGS=(--out "$OUT/gpu_models.md" --repeat 3)
  [ "$MODE" = cpu ] && MODELS_ARGS+=(--quick)
  [ -n "$CHECKPOINTS" ] && MODELS_ARGS+=(--checkpoints "$CHECKPOINTS")
  step gpu_models "${LIMITS[4]}" "$PY" "$HERE/gpu_models.py" "${MODELS_ARGS[@]}"
else
  echo; echo "== gpu_models: benchmarks/gpu_models.py not present (issue 11), skipped"
fi

echo; echo "== summary ($(( $(date +%s) - START )) s in all)"
"$PY" "$HERE/bench_point.py" --table "$OUT"/*.json
exit $FAILED
