#!/bin/sh
# Entry point of the diun service. Diun expands no variables in its YAML, so this puts the
# webhook secret into a copy of diun.yml on a tmpfs and runs Diun on that copy:
#   DIUN_TEMPLATE        the mounted diun.yml with @WEBHOOK_SECRET@   (/etc/diun/diun.yml)
#   WEBHOOK_SECRET_FILE  the Docker secret webhook-updater reads too  (/run/secrets/webhook_secret)
#   DIUN_RENDERED        where the rendered copy goes                 (/run/diun/diun.yml)
# The secret is never printed. Runs under the diun image's busybox sh.
set -eu

template="${DIUN_TEMPLATE:-/etc/diun/diun.yml}"
secret_file="${WEBHOOK_SECRET_FILE:-/run/secrets/webhook_secret}"
rendered="${DIUN_RENDERED:-/run/diun/diun.yml}"

fail() {
  echo "render-config: $*" >&2
  exit 1
}

[ -r "$template" ] || fail "cannot read $template: mount diun.yml there"
[ -r "$secret_file" ] || fail "cannot read $secret_file: add the webhook_secret secret to the diun service"
# $(...) drops trailing newlines, as webhook-updater does when it reads the same file.
secret="$(cat "$secret_file")"
case "$secret" in
  "") fail "$secret_file is empty: generate it with compose/init-secrets.sh" ;;
  *[!A-Za-z0-9._~+/=-]*) fail "$secret_file holds characters other than A-Z a-z 0-9 . _ ~ + / = - (they would need quoting in YAML): generate it with compose/init-secrets.sh or openssl rand -hex 32" ;;
esac
grep -q '@WEBHOOK_SECRET@' "$template" || fail "$template has no @WEBHOOK_SECRET@ placeholder: use the diun.yml of this repository"

umask 077
mkdir -p "$(dirname "$rendered")"
sed "s|@WEBHOOK_SECRET@|$secret|g" "$template" >"$rendered.tmp"
mv "$rendered.tmp" "$rendered"
echo "render-config: wrote $rendered from $template with the secret from $secret_file"

# The image's CMD is "serve"; compose v1 still passes it after an overridden entrypoint.
[ "${1:-}" = serve ] && shift
exec diun serve --config "$rendered" "$@"
