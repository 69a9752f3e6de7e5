#!/usr/bin/env bash
# Chromium and its driver for tests/test_html_report.py, which opens report.html in a real headless
# browser (it fails, never skips, without them). Debian's packages; the browser is never downloaded
# by selenium. Installs only what is missing (~110 MB download, about ten seconds); needs root or sudo.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
echo "install-browser.sh: installing chromium and chromium-driver"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
