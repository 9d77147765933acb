#!/bin/bash
# VNN-COMP: install_tool.sh v1 -- install relucompile and its dependencies (run once, from this folder).
set -e
VERSION_STRING=v1
if [ "$1" != "$VERSION_STRING" ]; then echo "expected first argument '$VERSION_STRING', got '$1'"; exit 1; fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python3 -m pip install --quiet -e "$ROOT"
relucompile verify --help > /dev/null
