#!/usr/bin/env bash
# The wheels the GPU check needs beyond what the lent GPU machine's image holds, fetched HERE (this
# machine reaches the package index; that one reaches nothing) into a git-ignored folder that the
# device call carries. The image (nvidia-h200) has Python 3.12 with torch, torchvision, transformers
# 5.17, numpy, scipy, pandas, pyarrow, scikit-image, numba, matplotlib, seaborn, statsmodels, jinja2,
# timm, tqdm, pyyaml, portalocker, opencv ...; it lacks segment-anything, pycocotools, lvis, sam2
# (with hydra-core, omegaconf, antlr4, iopath) and HQ-SAM. transformers is carried at the version the
# tests ran with. Versions are pinned to this machine's tested environment.
#
#   benchmarks/gpu_wheels.sh                   # -> .whl/ (Python 3.12, x86-64), about 15 MB
#   PYVER=3.11 benchmarks/gpu_wheels.sh /tmp/w # for this machine's Python: a local check of the install
#
# Then, on the device (the `device` tool's run, carry [".whl"]):
#   benchmarks/gpu_check.sh --wheels .whl
set -euo pipefail

DEST="${1:-.whl}"
PYVER="${PYVER:-3.12}"
PY="${PYTHON:-python3}"
PURE=(segment-anything==1.0 segment-anything-hq==0.3 lvis==0.5.3 hydra-core==1.3.8 omegaconf==2.3.1
      transformers==5.24.0 setuptools==84.2.1)   # setuptools: to install sambench itself from the tree there
BINARY=(pycocotools==2.0.11)
# sdists only on PyPI, and none has compiled code (sam2 is built without its optional CUDA
# post-processing extension, SAM2_BUILD_CUDA=0, as sambench's [sam2] extra uses it): built here and
# tagged py3-none-any so that Python 3.12 installs them
SDIST=(antlr4-python3-runtime==4.9.3 iopath==0.1.10 sam2==1.1.0)

mkdir -p "$DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" "${PURE[@]}" "${BINARY[@]}"
SAM2_BUILD_CUDA=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$TMP/built" "${SDIST[@]}"
"$PY" -m pip install -q --target "$TMP/tool" wheel
for whl in "$TMP"/built/*.whl; do
  if unzip -l "$whl" | grep -qE '\.(so|pyd)$'; then
    echo "gpu_wheels: $(basename "$whl") holds compiled code; it cannot be retagged for Python $PYVER" >&2
    exit 1
  fi
  PYTHONPATH="$TMP/tool" "$PY" -m wheel tags --remove --python-tag py3 --abi-tag none --platform-tag any "$whl" >/dev/null
done
cp "$TMP"/built/*-py3-none-any.whl "$DEST"/
ls -1 "$DEST"
du -sh "$DEST"
