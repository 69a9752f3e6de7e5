#!/usr/bin/env bash
# TeX for tests/test_latex.py, which compiles every generated .tex (it fails, never skips, without
# pdflatex). Debian: booktabs is in texlive-latex-recommended; standalone, varwidth and
# threeparttable in texlive-latex-extra. Installs only what is missing (~90 MB download, ~320 MB
# on disk, about a minute); needs root or sudo.
set -euo pipefail
tex_files=(booktabs.sty threeparttable.sty varwidth.sty standalone.cls)
if command -v pdflatex >/dev/null 2>&1 && kpsewhich "${tex_files[@]}" >/dev/null 2>&1; then
    exit 0
fi
echo "install-tex.sh: installing TeX Live (pdflatex, booktabs, threeparttable, varwidth, standalone)"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    texlive-latex-base texlive-latex-recommended texlive-latex-extra >/dev/null
kpsewhich "${tex_files[@]}" >/dev/null
