#!/bin/sh
# collect-libtorch.sh SITE_PACKAGES DEST: copies, from a folder where pip installed the torch wheel (pip install
# --target, or a site-packages), what vitorch loads at run time, and nothing else:
#   DEST/torch/lib/         libtorch's shared libraries (libtorch_cpu.so, libc10.so, libtorch_cuda.so, libgomp ...)
#   DEST/torch/version.py   the release libtorch records, which vitorch reads to pick its prebuilt addon
#   DEST/nvidia/*/lib/      the CUDA wheel's own libraries (cuBLAS, cuDNN, NCCL, the CUDA runtime ...)
# Then LIBTORCH=DEST/torch. The Dockerfile runs it in its build stage; run-image-contents.sh runs the same file
# against this machine's torch, so that the layout the image gets is the one checked without Docker.
# The Python side of the wheel (torch/*.py, include/, triton, sympy ...) stays behind: vitorch never imports torch.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 SITE_PACKAGES DEST" >&2; exit 2; }
src=$1
dest=$2
[ -f "$src/torch/lib/libtorch_cpu.so" ] || { echo "$0: $src/torch/lib/libtorch_cpu.so does not exist" >&2; exit 1; }

mkdir -p "$dest/torch"
cp -a "$src/torch/lib" "$src/torch/version.py" "$dest/torch/"
# Python's extension module: it needs libpython, which the image does not have, and nothing vitorch loads needs it.
rm -f "$dest/torch/lib/libtorch_python.so"

# The PyPI wheel is a CUDA build: libtorch_cpu.so itself needs libcudart and libcupti, and libtorch_cuda.so the rest.
# libtorch finds them through its RPATH, $ORIGIN/../../nvidia/<package>/lib, so they keep that place beside torch/.
# A CPU wheel (the pytorch.org CPU index) has no nvidia/ folder and needs none.
for package in "$src"/nvidia/*/; do
  [ -d "$package/lib" ] || continue
  name=$(basename "$package")
  mkdir -p "$dest/nvidia/$name"
  cp -a "$package/lib" "$dest/nvidia/$name/"
done
version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$dest/torch/version.py")
echo "collect-libtorch: torch $version's libraries into $dest ($(du -sh "$dest" | cut -f1))"
