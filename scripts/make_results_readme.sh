#!/usr/bin/env bash
# results/README.md = results/HEADER.md (how the numbers were made) + `kgc-lite report results/` (tables, plots)
# + the QA4RE section of the current README.md (from its "## QA4RE" heading on), kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp)
qa=$(mktemp)
if [ -f results/README.md ]; then sed -n '/^## QA4RE/,$p' results/README.md > "$qa"; fi
kgc-lite report results/ --markdown "$tmp" --plot-dir results/
# links relative to results/
{ cat results/HEADER.md; echo; sed -e "s#](results/#](#g" "$tmp"; if [ -s "$qa" ]; then echo; cat "$qa"; fi; } > results/README.md.new
mv results/README.md.new results/README.md
rm -f "$tmp" "$qa"
echo "wrote results/README.md"
