#!/usr/bin/env bash
# A local dry-run of a whole pipeline on the demo project: checkout -> build ->
# package, each step recorded and signed by attestor, SLSA provenance, then
# the gate: the chain verified against testdata/demo/policy.yaml (and refused
# once the tarball is altered). Embedded defaults: a throw-away key, a
# temporary workspace, no server needed.
#
#   ATTESTOR=path/to/attestor bash testdata/demo/pipeline.sh [WORKDIR]
#
# WORKDIR (default: a new temporary directory) receives the build and the
# workspace (.attestor) with every signed record.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
attestor="${ATTESTOR:-attestor}"
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/attestor-demo.XXXXXX")}"
mkdir -p "$work"
cd "$work"
export ATTESTOR_DIR="$work/.attestor"
export COSIGN_PASSWORD="demo-only"
step() { printf '\n== %s\n' "$*" >&2; }

step "key: a throw-away cosign-compatible key pair for this run"
[ -f demo.key ] || "$attestor" key generate --output-prefix demo
export ATTESTOR_KEY="$work/demo.key"

step "checkout: the sources become the products of the first step"
rm -rf src bin dist
"$attestor" run --step checkout -p src -- cp -R "$here/project/src" src

step "build: the sources are the materials, the binary the product"
"$attestor" run --step build -m src -p bin/hello -- \
  env CGO_ENABLED=0 GOFLAGS=-trimpath GOWORK=off go -C src build -o ../bin/hello .

step "package: the binary goes into a reproducible tarball"
mkdir -p dist
"$attestor" run --step package --format both -m bin/hello -p dist/hello.tar.gz -- \
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -czf dist/hello.tar.gz -C bin hello

step "provenance: SLSA v1 for the tarball, binding every step record"
"$attestor" provenance --subject dist/hello.tar.gz \
  --source https://example.com/demo/hello@refs/heads/main

step "inspect: every attestation in the workspace, checked against the demo key"
"$attestor" inspect --artifact dist/hello.tar.gz --from dir --key demo.pub

step "gate: verify the whole chain against the policy (and sign a VSA), drawing it"
cp "$here/policy.yaml" policy.yaml
"$attestor" verify --artifact dist/hello.tar.gz --policy policy.yaml --from dir --key demo.key --graph chain.mmd
printf -- '--- chain.mmd (Mermaid: paste into https://mermaid.live or a GitHub comment)\n' >&2
cat chain.mmd >&2

step "gate: a tarball altered after packaging is refused (exit 1)"
cp dist/hello.tar.gz dist/hello.orig.tar.gz
printf 'tampered' >> dist/hello.tar.gz
if ATTESTOR_KEY= "$attestor" verify --artifact dist/hello.tar.gz --policy policy.yaml --from dir --graph refused.mmd; then
  echo "demo: the gate passed a tampered artifact" >&2
  exit 1
fi
printf -- '--- refused.mmd\n' >&2
cat refused.mmd >&2
mv dist/hello.orig.tar.gz dist/hello.tar.gz

step "workspace: every signed record of the pipeline"
ls -l "$ATTESTOR_DIR" >&2
printf '\ndemo pipeline done in %s\n' "$work" >&2
