#!/usr/bin/env bash
# The screenplay PDF's fonts (aiuteur/screenplay/fonts.py), Debian packages pinned in packages.txt
# (Hugging Face Spaces installs that file itself): Courier Prime (OFL-1.1), Liberation Mono
# (OFL-1.1, Greek and Cyrillic), WenQuanYi Micro Hei (Apache-2.0, Chinese, Japanese, Korean).
# Installs them as root where apt-get exists; on another Debian release, where a pinned version is
# gone, the release's own version. Without them the PDF falls back to the built-in Courier and
# says which characters it cannot print.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t pinned < <(grep -v '^\s*#' packages.txt | grep -v '^\s*$')
names=("${pinned[@]%%=*}")
if dpkg-query -W -f='${Status}\n' "${names[@]}" 2>/dev/null | grep -c "install ok installed" | grep -qx "${#names[@]}"; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: the screenplay PDF fonts are not installed (Debian: apt-get install ${names[*]});" \
       "the PDF uses the built-in Courier and says which characters it cannot print" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1
apt-get install -y -qq "${pinned[@]}" >/dev/null 2>&1 \
  || apt-get install -y -qq "${names[@]}" >/dev/null \
  || echo "note: the screenplay PDF fonts could not be installed; the PDF uses the built-in Courier" >&2
exit 0
