#!/usr/bin/env bash
# Builds stand-ins for the official .NET images, which cannot be pulled here, on engine A:
#   local/dotnet-sdk:10     local/debian:bookworm + the machine's /usr/share/dotnet (the SDK)
#   local/dotnet-aspnet:10  local/debian:bookworm + the dotnet host and the NETCore/AspNetCore
#                           shared frameworks only
# The deployment tests pass them as SDK_IMAGE/RUNTIME_IMAGE to the repository's Dockerfile.
# Cached by a hash label over the inputs (the file list and sizes of the .NET folder, the
# Dockerfiles, the base image id): a second run takes a second.
# Called by up.sh after local/debian:bookworm exists (up.sh holds .state/lock). Nothing to stop.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "dotnet-images.sh must run as root"
mkdir -p "$LOG_DIR" "$STATE_DIR"

DOTNET_DIR="$(dirname "$(readlink -f "$(command -v dotnet)")")"
SDK_IMAGE="local/dotnet-sdk:10"
RUNTIME_IMAGE="local/dotnet-aspnet:10"

image_id() { dA image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { dA image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

base_id="$(image_id local/debian:bookworm)"
[[ -n "$base_id" ]] || die "local/debian:bookworm is missing: run up.sh, which builds it first"

# fingerprint DIR...: names and sizes of every file (fast; a new SDK or runtime changes both).
fingerprint() {
  local d
  for d in "$@"; do
    (cd "$DOTNET_DIR" && find "$d" \( -type f -o -type l \) -printf '%p %s\n' | LC_ALL=C sort)
  done | sha256sum | cut -d' ' -f1
}

host_cas_hash() {
  find /usr/local/share/ca-certificates -maxdepth 1 -type f -name '*.crt' -exec cat {} + 2>/dev/null | sha256sum | cut -d' ' -f1
}

# build REF DOCKERFILE_DIR PARTS...: copies PARTS of the .NET folder into a context, builds.
build() {
  local ref="$1" dir="$2" h ctx logf t=$SECONDS old
  shift 2
  h="$(printf '%s %s %s %s\n' "$(fingerprint "$@")" "$(sha256sum <"$dir/Dockerfile" | cut -d' ' -f1)" "$base_id" "$(host_cas_hash)" |
    sha256sum | cut -d' ' -f1)"
  if [[ "$(image_label "$ref" wu.testenv.hash)" == "$h" ]]; then
    log "image $ref: cached"
    return
  fi
  ctx="$STATE_DIR/build/$(basename "$dir")"
  rm -rf "$ctx"
  mkdir -p "$ctx/dotnet"
  cp "$dir/Dockerfile" "$ctx/"
  # The host's extra CA certificates: where NuGet is reached through a proxy with its own CA,
  # the SDK image must trust it as the host does.
  mkdir -p "$ctx/ca"
  find /usr/local/share/ca-certificates -maxdepth 1 -type f -name '*.crt' -exec cp {} "$ctx/ca/" \; 2>/dev/null || true
  local part
  for part in "$@"; do
    mkdir -p "$ctx/dotnet/$(dirname "$part")"
    # Hard links when the state folder is on the same file system: no 600 MB copy.
    cp -al "$DOTNET_DIR/$part" "$ctx/dotnet/$part" 2>/dev/null || cp -a "$DOTNET_DIR/$part" "$ctx/dotnet/$part"
  done
  logf="$LOG_DIR/build-$(echo "$ref" | tr '/:' '__').log"
  old="$(image_id "$ref")"
  log "image $ref: building from $DOTNET_DIR (log: $logf)"
  dA build --network host --label "wu.testenv.hash=$h" -t "$ref" "$ctx" >"$logf" 2>&1 || {
    tail -n 30 "$logf" >&2
    die "docker build of $ref failed (see $logf)"
  }
  rm -rf "$ctx"
  if [[ -n "$old" && "$old" != "$(image_id "$ref")" ]]; then
    dA rmi "$old" >/dev/null 2>&1 || true
  fi
  log "image $ref: built in $((SECONDS - t)) s"
}

sdk_parts=(dotnet host shared packs sdk sdk-manifests)
runtime_parts=(dotnet host shared/Microsoft.NETCore.App shared/Microsoft.AspNetCore.App)
build "$SDK_IMAGE" "$TESTENV_DIR/images/dotnet-sdk" "${sdk_parts[@]}"
build "$RUNTIME_IMAGE" "$TESTENV_DIR/images/dotnet-aspnet" "${runtime_parts[@]}"
