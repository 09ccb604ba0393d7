#!/bin/bash
# Build kube-bench and gojq (installed as `jq`, which kube-bench's policies
# checks call) from their Go modules at the versions in versions.env, static
# (CGO_ENABLED=0), into $CACHE_DIR/tools/kube-bench/<versions>/ with
# kube-bench's cfg/ as released. Prints that directory. Cached: a second call
# with the same versions builds nothing. Wrapper modules pin them (`go
# install mod@version` also asks the proxy for the module's version list,
# which it refuses for kube-bench).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"
cache=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/airgap-k8s}
out="$cache/tools/kube-bench/kube-bench-${KUBE_BENCH_VERSION}_gojq-${GOJQ_VERSION}"
if [ -x "$out/kube-bench" ] && [ -x "$out/jq" ] && [ -f "$out/cfg/config.yaml" ]; then
  echo "$out"
  exit 0
fi
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "build.sh: Go is needed to build kube-bench (Go 1.26 on the PATH)" >&2; exit 1; }
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp" && mkdir -p "$tmp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

# build NAME MODULE VERSION PACKAGE LDFLAGS: one wrapper module per tool, so
# each keeps the dependency versions its own release chose.
build() {
  local name=$1 module=$2 version=$3 package=$4 ldflags=$5
  mkdir -p "$tmp/src-$name" && cd "$tmp/src-$name"
  printf 'module airgap.local/tools/%s\n\ngo 1.26\n\nrequire %s %s\n' "$name" "$module" "$version" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" > tools.go
  "$go" mod tidy >&2
  "$go" build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/$name" "$package" >&2
}
build kube-bench github.com/aquasecurity/kube-bench "$KUBE_BENCH_VERSION" github.com/aquasecurity/kube-bench \
  "-X github.com/aquasecurity/kube-bench/cmd.KubeBenchVersion=${KUBE_BENCH_VERSION}"
build jq github.com/itchyny/gojq "$GOJQ_VERSION" github.com/itchyny/gojq/cmd/gojq ""
# The benchmark definitions, exactly as released with this kube-bench.
src=$(cd "$tmp/src-kube-bench" && "$go" list -m -f '{{.Dir}}' github.com/aquasecurity/kube-bench)
[ -f "$src/cfg/config.yaml" ] || { echo "build.sh: no cfg/ in $src" >&2; exit 1; }
cp -r "$src/cfg" "$tmp/cfg" && chmod -R u+w "$tmp/cfg"
cd / && rm -rf "$tmp"/src-*
rm -rf "$out" && mv "$tmp" "$out"
trap - EXIT
echo "$out"
