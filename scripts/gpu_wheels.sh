#!/usr/bin/env bash
# Wheels that `python -m pipeline.benchmark gpu` needs on a GPU image that has torch and
# transformers but no network: pydantic (the trainer's configs), for the CPython versions an
# image may have (3.10 to 3.13). With --with-polars also polars (54 MB; the tracks section
# needs it, besides the scientific packages the image may or may not have). The device tool
# carries at most 64 MiB with the working tree, which is why polars is optional.
#
#   scripts/gpu_wheels.sh [--with-polars] [folder]      # default folder: wheels
#   # on the GPU machine, from the repository root:
#   pip install -q --no-index --find-links wheels pydantic [polars]
#   python -m pipeline.benchmark gpu --out "$OUT/gpu.json"
set -euo pipefail
packages=("pydantic==$(python -c 'import pydantic; print(pydantic.VERSION)')")
if [[ "${1:-}" == "--with-polars" ]]; then
  packages+=("polars==$(python -c 'import polars; print(polars.__version__)')")
  shift
fi
dest="${1:-wheels}"
for version in 3.10 3.11 3.12 3.13; do
  pip download --quiet --only-binary=:all: --python-version "$version" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --dest "$dest" "${packages[@]}"
done
du -sh "$dest"
