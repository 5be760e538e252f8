#!/usr/bin/env bash
# Refreshes the vendored htmx from its npm package, unchanged. The version is
# pinned here; bump it on purpose, then run this script and commit the result.
set -euo pipefail
version="${1:-2.0.11}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/web/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$version" >/dev/null)
tar -xzf "$tmp"/htmx.org-"$version".tgz -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$tmp/package/LICENSE" "$dest/htmx.LICENSE"
printf 'htmx.org %s (npm package, dist/htmx.min.js, unchanged)\n' "$version" > "$dest/htmx.VERSION"
echo "htmx $version -> $dest"
