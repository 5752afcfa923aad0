#!/usr/bin/env bash
# The PDFs' fonts (aiuteur/screenplay/fonts.py), Debian packages: Courier Prime (OFL-1.1), Liberation
# Mono and Sans (OFL-1.1; Greek and Cyrillic), WenQuanYi Micro Hei (Apache-2.0; Chinese, Japanese,
# Korean). packages.txt names them for Hugging Face Spaces, which installs that file itself with its
# own Debian's versions; here they are pinned to the versions tested (Debian 12), and on another
# release, where a pinned version is gone, that release's own version is installed. Runs as root
# where apt-get exists. Without them the PDFs fall back to the built-in fonts and the screenplay
# PDF says which characters it cannot print.
set -uo pipefail
cd "$(dirname "$0")/.."
pinned=(fonts-courier-prime=0+git20190115-3 fonts-liberation2=2.1.5-1 fonts-wqy-microhei=0.2.0-beta-3.1)
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
