#!/usr/bin/env bash
# Installs the attestor release binary for the runner's OS and architecture
# into the runner's tool cache, after checking its sha256, and writes its
# path as the step output `bin`. It is the first step of the composite
# action (action.yml); the second runs `attestor action`.
#
# Environment (action.yml sets the first three from the step's context):
#   ATTESTOR_VERSION      the input version (vX.Y.Z); empty: from the action's ref
#   ATTESTOR_ACTION_REF   github.action_ref (vX.Y.Z, v1, a branch, a SHA)
#   ATTESTOR_RELEASE_URL  the input release-url (default
#                         https://github.com/attestor/attestor/releases/download);
#                         the assets are RELEASE_URL/VERSION/ASSET
#   GITHUB_ACTION_PATH    the action's checkout, .../_actions/OWNER/REPO/REF:
#                         its last element is the action's ref, which wins
#                         over github.action_ref (empty in some composite
#                         actions, and the outer action's ref when a
#                         composite action uses this one)
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_OUTPUT
#
# The version: the input version; else the action's ref when it is a
# release tag (vX.Y.Z); else (a major tag such as v1, a branch, a commit
# SHA) the newest release this commit of the action pins in
# actions/github/checksums/ (see below); else an error asking for the
# input version.
#
# The checksums: actions/github/checksums/VERSION.txt when this commit of
# the action carries it (the release's checksums.txt, committed to the
# action's repository after the release: a release whose assets were
# replaced afterwards, checksums.txt included, is refused); else the
# release's own checksums.txt, which proves the download is complete and
# uncorrupted, not that the release is the one the project built (verify
# its provenance for that: README, "Verify a release").
#
# Cache: RUNNER_TOOL_CACHE/attestor/X.Y.Z/ARCH/attestor[.exe] and
# RUNNER_TOOL_CACHE/attestor/X.Y.Z/ARCH.complete, the layout of
# @actions/tool-cache. A cached binary is used only when its sha256 is
# still the expected one; a download is checked before it is moved into the
# cache, under a temporary name, and renamed: a partial or refused download
# never has the binary's name.
#
# Exit status: 0 installed or reused; 1 the download (or the cached binary,
# twice) does not match its checksum; 2 bad input (version, release-url,
# RUNNER_*, a platform the release has no binary for); 3 a download failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pins="$here/checksums"
default_release_url="https://github.com/attestor/attestor/releases/download"
version_re='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$'

# fail CODE MESSAGE: an error annotation in GitHub Actions, the message on
# stderr, and the exit status CODE.
fail() {
  local code="$1"
  shift
  # Workflow-command escapes, written for bash 3.2 too (macOS).
  local msg="$*" line="$*" pct='%' cr=$'\r' nl=$'\n'
  if [ "${GITHUB_ACTIONS:-}" = true ]; then
    msg="${msg//$pct/%25}"
    msg="${msg//$cr/%0D}"
    printf '::error title=attestor install::%s\n' "${msg//$nl/%0A}"
  fi
  # One line on stderr too: the runner reads workflow commands (a line
  # that starts with ::) from both streams, and a message quotes inputs.
  line="${line//$cr/ }"
  printf 'attestor install: %s\n' "${line//$nl/ }" >&2
  exit "$code"
}

log() { printf 'attestor install: %s\n' "$*" >&2; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -b "$1" | awk '{print $1}'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 -b "$1" | awk '{print $1}'
  else
    openssl dgst -sha256 -r "$1" | awk '{print $1}'
  fi
}

# The version.
version="${ATTESTOR_VERSION:-}"
if [ -n "$version" ]; then
  [[ "$version" =~ $version_re ]] ||
    fail 2 "input version: \"$version\": want a release tag such as v1.2.3"
  version_from="the input version"
else
  # The ref the runner checked the action out at, from its path
  # (.../_actions/OWNER/REPO/REF): github.action_ref can be empty in a
  # composite action, or name the ref of the composite action that uses
  # this one. Else (the action used as ./) github.action_ref.
  ref="${ATTESTOR_ACTION_REF:-}"
  case "${GITHUB_ACTION_PATH:-}" in
    */_actions/*/*/?*) ref="$(basename "$GITHUB_ACTION_PATH")" ;;
  esac
  if [[ "$ref" =~ $version_re ]]; then
    version="$ref"
    version_from="the action's ref"
  else
    # The newest stable release pinned in this commit of the action.
    if [ -d "$pins" ]; then
      version="$(find "$pins" -maxdepth 1 -type f -name 'v*.txt' -print |
        sed -e 's|.*/||' -e 's|\.txt$||' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' |
        sed 's/^v//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1 || true)"
      [ -n "$version" ] && version="v$version"
    fi
    [ -n "$version" ] ||
      fail 2 "the action's ref \"$ref\" is not a release tag (vX.Y.Z) and this commit of the action pins no release (actions/github/checksums/): give the input version, or use the action at a release tag"
    version_from="the newest release the action's commit pins (ref \"$ref\")"
  fi
fi

# The platform.
case "${RUNNER_OS:-}" in
  Linux) os=linux ;;
  macOS) os=darwin ;;
  Windows) os=windows ;;
  *) fail 2 "RUNNER_OS: \"${RUNNER_OS:-}\": want Linux, macOS or Windows" ;;
esac
case "${RUNNER_ARCH:-}" in
  X64) arch=amd64 cache_arch=x64 ;;
  ARM64) arch=arm64 cache_arch=arm64 ;;
  *) fail 2 "RUNNER_ARCH: \"${RUNNER_ARCH:-}\": want X64 or ARM64" ;;
esac
asset="attestor-$os-$arch"
exe=attestor
if [ "$os" = windows ]; then
  asset="$asset.exe"
  exe=attestor.exe
fi

# Where from. Plain HTTP only to this machine (a test's release server).
# The host of an http:// URL is its authority less any userinfo
# (http://127.0.0.1:@example.com is example.com): only a loopback
# authority, with nothing else in it, is loopback.
base="${ATTESTOR_RELEASE_URL:-$default_release_url}"
base="${base%/}"
protos="=https"
loopback_re='^(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?$'
authority="${base#http://}"
authority="${authority%%[/?#]*}"
case "$base" in
  *[[:cntrl:][:space:]]*) fail 2 "input release-url: \"$base\": want an https:// URL" ;;
  https://?*) ;;
  http://*) [[ "$authority" =~ $loopback_re ]] || fail 2 "input release-url: \"$base\": want an https:// URL"
    protos="=http,https" ;;
  *) fail 2 "input release-url: \"$base\": want an https:// URL" ;;
esac

[ -n "${RUNNER_TOOL_CACHE:-}" ] || fail 2 "RUNNER_TOOL_CACHE is not set: run the action on a GitHub Actions runner"
cache_root="$RUNNER_TOOL_CACHE"
tmp_root="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
if command -v cygpath >/dev/null 2>&1; then # Git Bash on Windows
  cache_root="$(cygpath -u "$cache_root")"
  tmp_root="$(cygpath -u "$tmp_root")"
fi
cache_dir="$cache_root/attestor/${version#v}/$cache_arch"
marker="$cache_dir.complete"
bin="$cache_dir/$exe"

tmp="$(mktemp -d "$tmp_root/attestor-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# download URL FILE MAXBYTES: bounded in time and size, retried on
# transient errors (5xx, 429, timeouts, refused connections), redirects
# followed over HTTPS only. -q (first): no curl configuration file (a
# ~/.curlrc planted in the job's HOME could set a proxy, turn TLS checks
# off, or add transfers).
download() {
  local err=0
  curl -q --fail --silent --show-error --location \
    --proto "$protos" --proto-redir "$protos" \
    --connect-timeout 10 --max-time "${ATTESTOR_INSTALL_MAX_TIME:-300}" \
    --retry 4 --retry-connrefused --retry-max-time 120 \
    --max-filesize "$3" \
    --output "$2" "$1" 2>"$tmp/curl.err" || err=$?
  if [ "$err" -ne 0 ]; then
    fail 3 "downloading $1: $(tr '\n' ' ' <"$tmp/curl.err")(curl exit $err)"
  fi
}

# The expected digest.
if [ -f "$pins/$version.txt" ]; then
  sums="$pins/$version.txt"
  sums_from="actions/github/checksums/$version.txt, pinned in the action"
else
  sums="$tmp/checksums.txt"
  download "$base/$version/checksums.txt" "$sums" 65536
  sums_from="$base/$version/checksums.txt"
fi
want="$(awk -v a="$asset" '$2 == a || $2 == "*" a {print tolower($1)}' "$sums")"
if [ -z "$want" ]; then
  listed="$(awk '{sub(/^\*/, "", $2); printf "%s ", $2}' "$sums")"
  fail 2 "attestor $version has no binary for $os/$arch (RUNNER_OS=$RUNNER_OS, RUNNER_ARCH=$RUNNER_ARCH): $sums_from lists ${listed:-nothing}"
fi
if ! [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then
  fail 1 "$sums_from: the entry of $asset is not one sha256"
fi

# The cache.
if [ -f "$marker" ] && [ -f "$bin" ]; then
  if [ "$(sha256_of "$bin")" = "$want" ]; then
    log "attestor $version ($os/$arch, from $version_from) from the tool cache: $bin (sha256 $want)"
    [ -z "${GITHUB_OUTPUT:-}" ] || printf 'bin=%s\n' "$bin" >>"$GITHUB_OUTPUT"
    exit 0
  fi
  log "the cached $bin does not match sha256 $want: downloading it again"
fi
rm -f "$marker"

url="$base/$version/$asset"
download "$url" "$tmp/$asset" 268435456 # 256 MiB; a release binary is about 35 MB
got="$(sha256_of "$tmp/$asset")"
if [ "$got" != "$want" ]; then
  fail 1 "checksum mismatch: $url has sha256 $got, $sums_from says $want; not installed, nothing was run"
fi

# Into the cache under a temporary name (the cache may be on another file
# system than the download), checked again there, then renamed.
mkdir -p "$cache_dir"
part="$cache_dir/.$exe.$$.partial"
trap 'rm -rf "$tmp"; rm -f "$part"' EXIT
cp "$tmp/$asset" "$part"
chmod 0755 "$part"
[ "$(sha256_of "$part")" = "$want" ] || fail 1 "$part changed while it was copied into the tool cache"
mv -f "$part" "$bin"
: >"$marker"
log "attestor $version ($os/$arch, from $version_from) installed: $bin (sha256 $want, checked against $sums_from)"
[ -z "${GITHUB_OUTPUT:-}" ] || printf 'bin=%s\n' "$bin" >>"$GITHUB_OUTPUT"
