#!/usr/bin/env bash
# Runs the service on its embedded defaults, from any folder:
#   data in ./data (repo root), secrets generated once under data/secrets/ (mode 600),
#   passed by file (*_FILE), listening on http://127.0.0.1:8080 unless ASPNETCORE_URLS says otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1

log() { printf '==> %s\n' "$*"; }

DATA="$ROOT/data"
SECRETS="$DATA/secrets"
mkdir -p "$DATA" "$SECRETS"
chmod 700 "$SECRETS"

# new_secret FILE: 32 random bytes, base64url without padding, written once, mode 600.
new_secret() {
  local f="$1"
  if [[ -s "$f" ]]; then
    chmod 600 "$f"
    log "secret: keeping $f"
    return
  fi
  (
    umask 077
    head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$f.tmp"
    mv "$f.tmp" "$f"
  )
  log "secret: generated $f"
}

new_secret "$SECRETS/webhook-secret"
new_secret "$SECRETS/admin-token"
new_secret "$SECRETS/signing-key"
new_secret "$SECRETS/backup-signing-key"

export Webhook__Secret_FILE="${Webhook__Secret_FILE:-$SECRETS/webhook-secret}"
export Admin__Token_FILE="${Admin__Token_FILE:-$SECRETS/admin-token}"
export Approvals__SigningKey_FILE="${Approvals__SigningKey_FILE:-$SECRETS/signing-key}"
export Backups__SigningKey_FILE="${Backups__SigningKey_FILE:-$SECRETS/backup-signing-key}"
export Store__DataDirectory="${Store__DataDirectory:-$DATA}"
export ASPNETCORE_URLS="${ASPNETCORE_URLS:-http://127.0.0.1:8080}"
# A trial run starts no throwaway PostgreSQL containers on its own: the weekly restore test is off unless set.
export Backups__RestoreTestSchedule="${Backups__RestoreTestSchedule-}"
# Where approval links in emails point: this service as the operator's browser reaches it.
export Approvals__BaseUrl="${Approvals__BaseUrl:-${ASPNETCORE_URLS%%;*}}"

log "data directory: $Store__DataDirectory"
log "webhook secret file: $Webhook__Secret_FILE (Diun sends it as its bearer secret)"
log "admin token file: $Admin__Token_FILE"
log "approval signing key file: $Approvals__SigningKey_FILE"
log "backup signing key file: $Backups__SigningKey_FILE (keep a copy: sets it signed are restored only with it)"
log "listening on: $ASPNETCORE_URLS"
log "restore test schedule: ${Backups__RestoreTestSchedule:-off (set Backups__RestoreTestSchedule, e.g. '0 4 * * 0')}"
log "approval links: $Approvals__BaseUrl; emails: .eml files in $Store__DataDirectory/outbox"
export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Production}"
exec dotnet run --project src/WebhookUpdater -c Release --no-launch-profile
