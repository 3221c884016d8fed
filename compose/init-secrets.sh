#!/bin/sh
# Creates the stack's secret files once (an existing non-empty file is kept):
#   secrets/postgres_password  database password (postgres and gitea)
#   secrets/webhook_secret     bearer secret Diun sends to webhook-updater
#   secrets/admin_token        bearer token of webhook-updater's admin API (jobs, approvals by curl)
#   secrets/signing_key        key that signs approval links (rotate: docs/deployment.md)
#   secrets/backup_signing_key key that signs backup sets (keep a copy: docs/backups.md)
#   secrets/aws_credentials    AWS credentials (INI) for S3 backups and SES email: edit it
# Random values are 32 bytes, hex (safe in YAML, URLs and sed). The folder is mode 700 (only
# root on the host), the files mode 444: without swarm, compose mounts them with the host file's
# owner and mode, and each container reads them as its own non-root user.
# Usage: ./init-secrets.sh [FOLDER]   (default: secrets/ next to this script). Prints no value.
set -eu

dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 700 "$dir"

random() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

for name in postgres_password webhook_secret admin_token signing_key backup_signing_key; do
  f="$dir/$name"
  if [ -s "$f" ]; then
    echo "keeping $f"
  else
    (umask 077 && random >"$f.tmp" && mv "$f.tmp" "$f")
    echo "generated $f"
  fi
  chmod 444 "$f"
done

f="$dir/aws_credentials"
if [ -s "$f" ]; then
  echo "keeping $f"
else
  cat >"$f" <<'INI'
# AWS credentials for webhook-updater (S3 backups, SES email); read by the AWS SDK through
# AWS_SHARED_CREDENTIALS_FILE. Use an IAM user limited to the backup bucket and ses:SendEmail.
[default]
aws_access_key_id = REPLACE_ME
aws_secret_access_key = REPLACE_ME
INI
  echo "wrote $f: put the IAM user's keys in it"
fi
chmod 444 "$f"
