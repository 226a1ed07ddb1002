#!/usr/bin/env bash
# Builds the `flotilla:dev` image: the release binary and the shared libraries it links
# (found with ldd) in an image made FROM scratch, so no registry is needed.
#
#   bash docker/build-image.sh [TAG]        (default tag flotilla:dev)
#   BINARY=path/to/flotilla bash docker/build-image.sh   (skip the cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-flotilla:dev}
binary=${BINARY:-target/release/flotilla}
if [ -z "${BINARY:-}" ]; then
    cargo build --release --bin flotilla
fi
context=$(mktemp -d /tmp/flotilla-image.XXXX)
trap 'rm -rf "$context"' EXIT

mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/data"
# Without its debug info (the release profile keeps it for profiling): a third of the size.
strip -o "$context/rootfs/usr/local/bin/flotilla" "$binary"
# Every library the binary loads, at the path the dynamic loader looks for it (the loader
# itself is listed without "=>").
ldd "$binary" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]*ld-linux/{print $1}' | while read -r lib; do
    mkdir -p "$context/rootfs$(dirname "$lib")"
    cp -L "$lib" "$context/rootfs$lib"
done
cp docker/Dockerfile "$context/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$context" >/dev/null 2>&1 || docker build -t "$tag" "$context"
echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
