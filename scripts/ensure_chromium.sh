#!/usr/bin/env bash
# The reports are checked in a real headless browser and printed to PDF by it. Debian's chromium is used (browser
# builds that download themselves do not work on our machines), with a CJK font so that Chinese labels render in
# screenshots and PDFs rather than as empty boxes; poppler-utils to count and look at the PDF's pages.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
command -v pdfinfo >/dev/null 2>&1 || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure_chromium: installing Debian's ${missing[*]} for report rendering" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" fontconfig >/dev/null
