#!/bin/sh
# As the official image does: each /etc/nginx/templates/X.template becomes /etc/nginx/conf.d/X,
# with ${VAR} and $VAR replaced only for variables set in the environment (nginx's own stay).
set -eu
for t in /etc/nginx/templates/*.template; do
  [ -e "$t" ] || continue
  out="/etc/nginx/conf.d/$(basename "$t" .template)"
  perl -pe 's/\$\{(\w+)\}|\$(\w+)/my $n = defined $1 ? $1 : $2; exists $ENV{$n} ? $ENV{$n} : $&/ge' "$t" >"$out"
  echo "nginx stand-in: rendered $t to $out"
done
exec "$@"
