#!/usr/bin/env bash
# Brings up everything the WebhookUpdater tests need on this machine, reusing any
# piece that already runs, then writes scripts/testenv/.state/env.sh:
#   engine A  Debian bookworm dockerd 20.10 (API 1.41)  unix:///var/run/docker.sock
#   engine B  Debian trixie dockerd 26.1 (API 1.45)     unix:///run/wu-docker26/docker.sock
#   registry  Debian docker-registry                    127.0.0.1:5000
#   S3        npm s3rver 3.7.1                          127.0.0.1:4568 (S3RVER/S3RVER)
#   SES v2    npm aws-ses-v2-local 2.10.2               127.0.0.1:8005
#   images    localhost:5000/wu-test/{app,postgres,nginx,certbot}, built locally; on engine A
#             also the stack's stand-ins wu-test/{stack-gitea,stack-nginx,stack-diun,ses}
#   engine S  dockerd 20.10 in network namespace wu-stack  unix:///run/wu-stack/docker.sock
#             (stack-engine.sh: the stack test's bridge network and ports, loopback-only namespace)
# Idempotent: a second run reuses everything and takes a few seconds.
# Must run as root. Talks to loopback only (plus Debian's mirror and npm for installs).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${EUID} -eq 0 ]] || die "up.sh must run as root (it starts dockerd)"
mkdir -p "$STATE_DIR" "$PID_DIR" "$LOG_DIR" "$CACHE_DIR"
exec 9>"$STATE_DIR/lock"
flock -w 900 9 || die "another up.sh/down.sh holds $STATE_DIR/lock"

T_START=$SECONDS
# shellcheck disable=SC2034 # read by log() in lib.sh
WU_LOG_T0=$SECONDS
MIRROR="http://deb.debian.org/debian"
APT_PACKAGES=(docker.io docker-registry busybox-static debootstrap runc curl ca-certificates jq iproute2 util-linux)
APP_TAGS=("1.0:healthy" "1.1:healthy" "1.2-unhealthy:unhealthy" "1.3-exits:exits" "1.4:healthy")
DEBIAN_IMAGES=("postgres:15" "nginx:1" "certbot:2")
BUILT_SOMETHING=0

# ---------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------
pkg_installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == *"ok installed" ]]; }

ensure_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "packages: all present (${APT_PACKAGES[*]})"
    return
  fi
  log "packages: installing ${missing[*]}"
  # Keep package scripts from starting services (docker, docker-registry) on their own:
  # we start them with our own flags below.
  local policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  } >"$LOG_DIR/apt.log" 2>&1 || rc=$?
  ((policy_added)) && rm -f /usr/sbin/policy-rc.d
  if ((rc != 0)); then
    tail -n 30 "$LOG_DIR/apt.log" >&2
    die "apt-get failed (see $LOG_DIR/apt.log)"
  fi
  [[ -n "$DOCKER_CLI" ]] || DOCKER_CLI="$(command -v docker)"
}

# ---------------------------------------------------------------------------
# 2. Engine A: bookworm dockerd 20.10
# ---------------------------------------------------------------------------
ensure_engine_a() {
  if engine_answers "$DOCKER_A"; then
    log "engine A: reusing dockerd at $DOCKER_A (API $(dA version --format '{{.Server.APIVersion}}'))"
    return
  fi
  if ! pid_of dockerd-a >/dev/null; then
    # A pidfile left by a dockerd that is gone makes the next one refuse to start.
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
      rm -f /var/run/docker.pid
    fi
    log "engine A: starting /usr/sbin/dockerd (log: $LOG_DIR/dockerd-a.log)"
    start_bg dockerd-a "/usr/sbin/dockerd" "$LOG_DIR/dockerd-a.log" \
      env PATH="$SYS_PATH" /usr/sbin/dockerd --iptables=false --ip-masq=false --bridge=none
  else
    log "engine A: dockerd started earlier is still coming up"
  fi
  if ! wait_for 60 "engine A" engine_answers "$DOCKER_A"; then
    tail -n 30 "$LOG_DIR/dockerd-a.log" >&2 || true
    die "engine A did not answer within 60 s"
  fi
  log "engine A: up (API $(dA version --format '{{.Server.APIVersion}}'))"
}

# ---------------------------------------------------------------------------
# 3. Engine B: trixie dockerd 26.1 + containerd 1.7, unpacked, with bookworm's runc
# ---------------------------------------------------------------------------
B_PATH="$DOCKER26_DIR/usr/sbin:$DOCKER26_DIR/usr/bin:$SYS_PATH"

ensure_docker26_files() {
  if [[ -f "$DOCKER26_DIR/.wu-complete" && -x "$DOCKER26_DIR/usr/sbin/dockerd" && -x "$DOCKER26_DIR/usr/bin/containerd" ]]; then
    log "engine B: reusing unpacked $(tr '\n' ' ' <"$DOCKER26_DIR/.wu-complete")in $DOCKER26_DIR"
    return
  fi
  local adir="$CACHE_DIR/apt-trixie"
  mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial" "$adir/prefs.d" "$adir/debs"
  # A private trixie source list: the host's apt sources and lists stay untouched.
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" >"$adir/sources.list"
  local opts=(
    -o Dir::Etc::SourceList="$adir/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o Dir::Etc::Preferences=/dev/null
    -o Dir::Etc::PreferencesParts="$adir/prefs.d"
    -o Dir::State::Lists="$adir/lists"
    -o Dir::Cache="$adir/cache"
    -o Acquire::Languages=none
    -o APT::Sandbox::User=root
  )
  log "engine B: downloading docker.io and containerd from Debian trixie"
  {
    apt-get "${opts[@]}" update &&
      rm -f "$adir"/debs/*.deb &&
      (cd "$adir/debs" && apt-get "${opts[@]}" download docker.io containerd)
  } >"$LOG_DIR/apt-trixie.log" 2>&1 || {
    tail -n 20 "$LOG_DIR/apt-trixie.log" >&2
    die "could not download trixie's docker.io/containerd (see $LOG_DIR/apt-trixie.log)"
  }
  local tmp="$DOCKER26_DIR.tmp" deb
  rm -rf "$tmp"
  mkdir -p "$tmp"
  : >"$tmp/.wu-complete"
  for deb in "$adir"/debs/*.deb; do
    dpkg -x "$deb" "$tmp"
    printf '%s=%s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >>"$tmp/.wu-complete"
  done
  # Never trixie's runc (needs glibc 2.38): bookworm's /usr/sbin/runc is used via PATH.
  rm -f "$tmp/usr/sbin/runc" "$tmp/usr/bin/runc"
  "$tmp/usr/sbin/dockerd" --version >/dev/null || die "unpacked dockerd does not run"
  rm -rf "$DOCKER26_DIR"
  mv "$tmp" "$DOCKER26_DIR"
  rm -rf "$adir" # the .debs and trixie lists are not needed once unpacked
  log "engine B: unpacked $(tr '\n' ' ' <"$DOCKER26_DIR/.wu-complete")into $DOCKER26_DIR"
}

containerd_b_answers() {
  [[ -S "$B_CONTAINERD_SOCK" ]] &&
    timeout 5 "$DOCKER26_DIR/usr/bin/ctr" -a "$B_CONTAINERD_SOCK" --connect-timeout 1s version >/dev/null 2>&1
}

ensure_engine_b() {
  if engine_answers "$DOCKER_B"; then
    log "engine B: reusing dockerd at $DOCKER_B"
  else
    ensure_docker26_files
    mkdir -p "$B_RUN/containerd" "$B_RUN/exec" "$B_DATA/containerd"
    # Its own containerd (trixie 1.7) with its own root, state and sockets, so it never
    # shares engine A's (managed, under /var/run/docker/containerd) or a system one.
    cat >"$STATE_DIR/containerd26.toml" <<EOF
version = 2
root = "$B_DATA/containerd"
state = "$B_RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$B_CONTAINERD_SOCK"
[ttrpc]
  address = ""
[debug]
  address = "$B_RUN/containerd/debug.sock"
  level = "info"
[metrics]
  address = ""
EOF
    echo '{}' >"$STATE_DIR/docker26-daemon.json"
    if containerd_b_answers; then
      log "engine B: reusing containerd at $B_CONTAINERD_SOCK"
    else
      pid_of containerd-b >/dev/null || {
        log "engine B: starting containerd $(grep ^containerd= "$DOCKER26_DIR/.wu-complete" | cut -d= -f2)"
        start_bg containerd-b "$DOCKER26_DIR/usr/bin/containerd" "$LOG_DIR/containerd-b.log" \
          env PATH="$B_PATH" "$DOCKER26_DIR/usr/bin/containerd" --config "$STATE_DIR/containerd26.toml"
      }
      wait_for 30 "containerd B" containerd_b_answers || {
        tail -n 30 "$LOG_DIR/containerd-b.log" >&2 || true
        die "engine B's containerd did not answer within 30 s"
      }
    fi
    if ! pid_of dockerd-b >/dev/null; then
      if [[ -f "$B_RUN/docker.pid" ]] && ! kill -0 "$(cat "$B_RUN/docker.pid")" 2>/dev/null; then
        rm -f "$B_RUN/docker.pid"
      fi
      log "engine B: starting dockerd $(grep ^docker.io= "$DOCKER26_DIR/.wu-complete" | cut -d= -f2) (log: $LOG_DIR/dockerd-b.log)"
      start_bg dockerd-b "$DOCKER26_DIR/usr/sbin/dockerd" "$LOG_DIR/dockerd-b.log" \
        env PATH="$B_PATH" "$DOCKER26_DIR/usr/sbin/dockerd" \
        -H "$DOCKER_B" \
        --data-root "$B_DATA" \
        --exec-root "$B_RUN/exec" \
        --pidfile "$B_RUN/docker.pid" \
        --config-file "$STATE_DIR/docker26-daemon.json" \
        --containerd "$B_CONTAINERD_SOCK" \
        --containerd-namespace wu-docker26 \
        --containerd-plugins-namespace wu-docker26-plugins \
        --cgroup-parent /wu-docker26 \
        --iptables=false --ip-masq=false --bridge=none
    fi
    if ! wait_for 60 "engine B" engine_answers "$DOCKER_B"; then
      tail -n 30 "$LOG_DIR/dockerd-b.log" >&2 || true
      die "engine B did not answer within 60 s"
    fi
  fi
  local api ver
  api="$(dB version --format '{{.Server.APIVersion}}')"
  ver="$(dB version --format '{{.Server.Version}}')"
  [[ "$api" == "$B_EXPECTED_API" ]] || die "engine B reports API $api, expected $B_EXPECTED_API"
  log "engine B: up (dockerd $ver, API $api)"
}

# ---------------------------------------------------------------------------
# 4. Registry on 127.0.0.1:5000
# ---------------------------------------------------------------------------
registry_answers() { curl -fsS -m 3 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

ensure_registry() {
  if registry_answers; then
    log "registry: reusing http://$REGISTRY_ADDR"
    return
  fi
  mkdir -p "$REGISTRY_DATA"
  cat >"$STATE_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
  fields:
    service: wu-test-registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  pid_of registry >/dev/null || {
    log "registry: starting docker-registry on $REGISTRY_ADDR (storage $REGISTRY_DATA)"
    start_bg registry "docker-registry serve" "$LOG_DIR/registry.log" \
      /usr/bin/docker-registry serve "$STATE_DIR/registry.yml"
  }
  wait_for 30 registry registry_answers || {
    tail -n 20 "$LOG_DIR/registry.log" >&2 || true
    die "registry did not answer within 30 s"
  }
  log "registry: up"
}

# ---------------------------------------------------------------------------
# 5. npm stand-ins: s3rver and aws-ses-v2-local
# ---------------------------------------------------------------------------
ensure_node_modules() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "node and npm are needed (Node.js 20+)"
  fi
  local want have=""
  want="$(cat "$TESTENV_DIR/package.json" "$TESTENV_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
  [[ -f "$TESTENV_DIR/node_modules/.wu-lock.sha256" ]] && have="$(cat "$TESTENV_DIR/node_modules/.wu-lock.sha256")"
  if [[ "$want" == "$have" ]]; then
    log "npm: node_modules matches package-lock.json"
    return
  fi
  log "npm: npm ci in $TESTENV_DIR"
  (cd "$TESTENV_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$LOG_DIR/npm.log" 2>&1 || {
    tail -n 20 "$LOG_DIR/npm.log" >&2
    die "npm ci failed (see $LOG_DIR/npm.log)"
  }
  echo "$want" >"$TESTENV_DIR/node_modules/.wu-lock.sha256"
}

s3_answers() { http_answers "http://$S3_ADDR:$S3_PORT/"; }
ses_answers() { curl -fsS -m 3 "http://$SES_ADDR:$SES_PORT/store" >/dev/null 2>&1; }

ensure_s3() {
  if s3_answers; then
    log "s3rver: reusing http://$S3_ADDR:$S3_PORT"
    return
  fi
  mkdir -p "$STATE_DIR/s3"
  pid_of s3rver >/dev/null || {
    log "s3rver: starting on $S3_ADDR:$S3_PORT (data $STATE_DIR/s3)"
    start_bg s3rver "s3rver.js" "$LOG_DIR/s3rver.log" \
      node "$TESTENV_DIR/node_modules/s3rver/bin/s3rver.js" -d "$STATE_DIR/s3" -a "$S3_ADDR" -p "$S3_PORT"
  }
  wait_for 30 s3rver s3_answers || {
    tail -n 20 "$LOG_DIR/s3rver.log" >&2 || true
    die "s3rver did not answer within 30 s"
  }
  log "s3rver: up"
}

ensure_ses() {
  if ses_answers; then
    log "ses: reusing http://$SES_ADDR:$SES_PORT"
    return
  fi
  pid_of ses >/dev/null || {
    log "ses: starting aws-ses-v2-local on $SES_ADDR:$SES_PORT"
    # SMTP_TRANSPORT unset: mail stays in its store (GET /store, POST /clear-store).
    start_bg ses "aws-ses-v2-local/dist/cli.js" "$LOG_DIR/ses.log" \
      env -u SMTP_TRANSPORT node "$TESTENV_DIR/node_modules/aws-ses-v2-local/dist/cli.js" \
      --host "$SES_ADDR" --port "$SES_PORT"
  }
  wait_for 30 ses ses_answers || {
    tail -n 20 "$LOG_DIR/ses.log" >&2 || true
    die "aws-ses-v2-local did not answer within 30 s"
  }
  log "ses: up"
}

# ---------------------------------------------------------------------------
# 6. Test images (built on engine A, cached by a hash label of their inputs)
# ---------------------------------------------------------------------------
# hash_inputs FILE|DIR... : sha256 over the names and contents of the files.
hash_inputs() {
  local p f
  for p in "$@"; do
    if [[ -d "$p" ]]; then find "$p" -type f | LC_ALL=C sort; else echo "$p"; fi
  done | while IFS= read -r f; do
    printf '%s %s\n' "${f#"$TESTENV_DIR"/}" "$(sha256sum <"$f" | cut -d' ' -f1)"
  done | sha256sum | cut -d' ' -f1
}

image_label() { dA image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }
image_id() { "$DOCKER_CLI" -H "$1" image inspect -f '{{.Id}}' "$2" 2>/dev/null || true; }

# The host's Debian apt sources (only those naming a debian.org mirror).
host_debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && grep -qE '^[^#]*debian\.org' "$f" && echo "$f"
  done
  return 0
}

cleanup_rootfs() {
  local dir="$1" m
  [[ -e "$dir" ]] || return 0
  # debootstrap mounts /proc and /sys inside; never rm -rf through a mount.
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r)
  rm -rf --one-file-system "$dir"
}

ensure_base_image() {
  local img="local/debian:bookworm" h srcs f
  mapfile -t srcs < <(host_debian_sources)
  h="$(
    {
      echo "recipe=3 suite=bookworm variant=minbase mirror=$MIRROR"
      for f in "${srcs[@]}"; do echo "$f"; cat "$f"; done
    } | sha256sum | cut -d' ' -f1
  )"
  if [[ "$(image_label "$img" wu.testenv.hash)" == "$h" ]]; then
    log "image $img: cached"
    return
  fi
  local root="$CACHE_DIR/rootfs-bookworm" t=$SECONDS
  log "image $img: debootstrap --variant=minbase bookworm (about a minute; log: $LOG_DIR/debootstrap.log)"
  cleanup_rootfs "$root"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1 || {
    tail -n 30 "$LOG_DIR/debootstrap.log" >&2
    cleanup_rootfs "$root"
    die "debootstrap failed (see $LOG_DIR/debootstrap.log)"
  }
  # Same apt sources as the host (the same mirror, plus bookworm-updates and security).
  if ((${#srcs[@]} > 0)); then
    : >"$root/etc/apt/sources.list"
    for f in "${srcs[@]}"; do
      if [[ "$f" == /etc/apt/sources.list ]]; then
        cp "$f" "$root/etc/apt/sources.list"
      else
        cp "$f" "$root/etc/apt/sources.list.d/"
      fi
    done
  fi
  # As in Debian's official images: no services start during apt-get install in a build.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' \
    >"$root/etc/apt/apt.conf.d/90wu-test"
  # Slim, like debian:*-slim: no docs, man pages or translations, now or in later installs.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/lintian/*' 'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/locale/*' \
    >"$root/etc/dpkg/dpkg.cfg.d/90wu-test-slim"
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
    "$root"/usr/share/lintian/* "$root"/usr/share/linda/* "$root"/usr/share/locale/*
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  local old
  old="$(image_id "$DOCKER_A" "$img")"
  tar --numeric-owner -C "$root" -c . | dA import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change "LABEL wu.testenv.hash=$h org.opencontainers.image.title=wu-test-debian org.opencontainers.image.version=12" \
    - "$img" >/dev/null
  cleanup_rootfs "$root"
  if [[ -n "$old" ]]; then
    dA rmi "$old" >/dev/null 2>&1 || true # still used by older child images: pruned later
  fi
  BUILT_SOMETHING=1
  log "image $img: built in $((SECONDS - t)) s"
}

# drop_old_image HOST OLD_ID REF: remove the image REF pointed to before a rebuild or
# pull (once pushed it keeps a digest, so `image prune` would not count it as dangling).
# Left alone while a container still uses it.
drop_old_image() {
  local host="$1" old="$2" ref="$3"
  [[ -n "$old" && "$old" != "$(image_id "$host" "$ref")" ]] || return 0
  "$DOCKER_CLI" -H "$host" rmi "$old" >/dev/null 2>&1 || true
}

# build_image REF HASH NETWORK CONTEXT [docker build args...]
build_image() {
  local ref="$1" h="$2" net="$3" ctx="$4"
  shift 4
  if [[ "$(image_label "$ref" wu.testenv.hash)" == "$h" ]]; then
    log "image $ref: cached"
    return
  fi
  local t=$SECONDS logf old
  logf="$LOG_DIR/build-$(echo "$ref" | tr '/:' '__').log"
  old="$(image_id "$DOCKER_A" "$ref")"
  log "image $ref: building (log: $logf)"
  dA build --network "$net" --label "wu.testenv.hash=$h" -t "$ref" "$@" "$ctx" >"$logf" 2>&1 || {
    tail -n 30 "$logf" >&2
    die "docker build of $ref failed (see $logf)"
  }
  drop_old_image "$DOCKER_A" "$old" "$ref"
  BUILT_SOMETHING=1
  log "image $ref: built in $((SECONDS - t)) s"
}

ensure_app_images() {
  local ctx="$STATE_DIR/build/app" entry tag mode h
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$TESTENV_DIR/images/app/"* "$ctx/"
  cp /bin/busybox "$ctx/busybox"
  for entry in "${APP_TAGS[@]}"; do
    tag="${entry%%:*}"
    mode="${entry#*:}"
    h="$(printf '%s %s %s\n' "$(hash_inputs "$TESTENV_DIR/images/app" /bin/busybox)" "$tag" "$mode" | sha256sum | cut -d' ' -f1)"
    build_image "$IMAGE_PREFIX/app:$tag" "$h" none "$ctx" --build-arg "VERSION=$tag" --build-arg "MODE=$mode"
  done
}

ensure_debian_images() {
  local base_id entry name tag h
  base_id="$(image_id "$DOCKER_A" local/debian:bookworm)"
  for entry in "${DEBIAN_IMAGES[@]}"; do
    name="${entry%%:*}"
    tag="${entry#*:}"
    h="$(printf '%s %s\n' "$(hash_inputs "$TESTENV_DIR/images/$name")" "$base_id" | sha256sum | cut -d' ' -f1)"
    build_image "$IMAGE_PREFIX/$name:$tag" "$h" host "$TESTENV_DIR/images/$name"
  done
}

# Stand-ins of the stack's official images (gitea, nginx, diun) and the SES emulator as a
# container, for the test that starts compose/docker-compose.yml as shipped. Engine A only.
STACK_IMAGES=("stack-gitea:1:app:1.0" "stack-nginx:1:nginx:1" "stack-diun:1:app:1.0")
ensure_stack_images() {
  local entry name tag base base_id h ctx
  for entry in "${STACK_IMAGES[@]}"; do
    IFS=: read -r name tag base <<<"$entry"
    base="$IMAGE_PREFIX/$base"
    base_id="$(image_id "$DOCKER_A" "$base")"
    h="$(printf '%s %s\n' "$(hash_inputs "$TESTENV_DIR/images/$name")" "$base_id" | sha256sum | cut -d' ' -f1)"
    build_image "$IMAGE_PREFIX/$name:$tag" "$h" none "$TESTENV_DIR/images/$name" --build-arg "BASE=$base"
  done
  ctx="$STATE_DIR/build/ses"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$TESTENV_DIR/images/ses/Dockerfile" "$ctx/"
  cp "$(readlink -f "$(command -v node)")" "$ctx/node"
  cp -a "$TESTENV_DIR/node_modules" "$ctx/node_modules"
  h="$(printf '%s %s %s\n' "$(hash_inputs "$TESTENV_DIR/images/ses" "$ctx/node")" "$(cat "$TESTENV_DIR/node_modules/.wu-lock.sha256")" "$(image_id "$DOCKER_A" local/debian:bookworm)" | sha256sum | cut -d' ' -f1)"
  build_image "$IMAGE_PREFIX/ses:2" "$h" none "$ctx"
}

all_refs() {
  local entry
  for entry in "${APP_TAGS[@]}"; do echo "$IMAGE_PREFIX/app:${entry%%:*}"; done
  for entry in "${DEBIAN_IMAGES[@]}"; do echo "$IMAGE_PREFIX/$entry"; done
}

# ---------------------------------------------------------------------------
# 7. Verification: run each newly built image briefly (host network, 127.0.0.1)
# ---------------------------------------------------------------------------
VERIFIED_DIR="$STATE_DIR/verified"

needs_verify() {
  local ref f
  for ref in "$@"; do
    f="$VERIFIED_DIR/$(echo "$ref" | tr '/:' '__')"
    [[ -f "$f" && "$(cat "$f")" == "$(image_id "$DOCKER_A" "$ref")" ]] || return 0
  done
  return 1
}
mark_verified() {
  local ref
  mkdir -p "$VERIFIED_DIR"
  for ref in "$@"; do
    image_id "$DOCKER_A" "$ref" >"$VERIFIED_DIR/$(echo "$ref" | tr '/:' '__')"
  done
}

health_of() { dA inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || true; }
status_of() { dA inspect -f '{{.State.Status}}' "$1" 2>/dev/null || true; }
health_is() { [[ "$(health_of "$1")" == "$2" ]]; }
status_is() { [[ "$(status_of "$1")" == "$2" ]]; }

verify_fail() {
  local c="$1"
  shift
  echo "---- logs of $c" >&2
  dA logs --tail 30 "$c" >&2 2>&1 || true
  dA rm -fv "$c" >/dev/null 2>&1 || true
  die "verify: $*"
}

verify_app() {
  local refs=() entry
  for entry in "${APP_TAGS[@]}"; do refs+=("$IMAGE_PREFIX/app:${entry%%:*}"); done
  if ! needs_verify "${refs[@]}"; then
    log "verify app: already verified"
    return
  fi
  log "verify app: running the 5 app tags on 127.0.0.1:18080-18084"
  local i=0 tag mode port c out names=()
  for entry in "${APP_TAGS[@]}"; do
    tag="${entry%%:*}"
    port=$((18080 + i))
    c="wu-verify-app-$tag"
    names+=("$c")
    dA rm -fv "$c" >/dev/null 2>&1 || true
    dA run -d --name "$c" --label wu.testenv.verify=true --network host -e APP_PORT="$port" \
      "$IMAGE_PREFIX/app:$tag" >/dev/null
    i=$((i + 1))
  done
  local t0=$SECONDS
  i=0
  for entry in "${APP_TAGS[@]}"; do
    tag="${entry%%:*}"
    mode="${entry#*:}"
    port=$((18080 + i))
    c="wu-verify-app-$tag"
    case "$mode" in
      healthy)
        wait_for 20 "$c healthy" health_is "$c" healthy || verify_fail "$c" "$c never became healthy ($(health_of "$c"))"
        [[ "$(curl -fsS -m 3 "http://127.0.0.1:$port/version")" == "$tag" ]] || verify_fail "$c" "$c /version is not $tag"
        out="$(dA exec "$c" cat /data/versions.log)" || true
        grep -qx "$tag" <<<"$out" || verify_fail "$c" "$c did not write /data/versions.log"
        ;;
      unhealthy)
        [[ "$(curl -fsS -m 3 "http://127.0.0.1:$port/version")" == "$tag" ]] || verify_fail "$c" "$c /version is not $tag"
        wait_for 20 "$c unhealthy" health_is "$c" unhealthy || verify_fail "$c" "$c never became unhealthy ($(health_of "$c"))"
        ;;
      exits)
        wait_for 15 "$c exited" status_is "$c" exited || verify_fail "$c" "$c did not exit"
        [[ "$(dA inspect -f '{{.State.ExitCode}}' "$c")" == 1 ]] || verify_fail "$c" "$c exit code is not 1"
        ;;
    esac
    log "verify app: $tag ok ($mode, after $((SECONDS - t0)) s)"
    i=$((i + 1))
  done
  local ts te
  ts=$(date +%s%N)
  dA stop -t 10 "wu-verify-app-1.0" >/dev/null
  te=$(date +%s%N)
  [[ "$(dA inspect -f '{{.State.ExitCode}}' wu-verify-app-1.0)" == 0 ]] || verify_fail wu-verify-app-1.0 "app did not exit 0 on SIGTERM"
  log "verify app: docker stop took $(((te - ts) / 1000000)) ms, exit code 0"
  dA rm -fv "${names[@]}" >/dev/null
  mark_verified "${refs[@]}"
}

verify_postgres() {
  local ref="$IMAGE_PREFIX/postgres:15" c=wu-verify-postgres
  if ! needs_verify "$ref"; then
    log "verify postgres: already verified"
    return
  fi
  log "verify postgres: PGPORT=15432, user wu, db wudb"
  dA rm -fv "$c" >/dev/null 2>&1 || true
  dA run -d --name "$c" --label wu.testenv.verify=true --network host -e PGPORT=15432 \
    -e POSTGRES_USER=wu -e POSTGRES_PASSWORD=wu-verify -e POSTGRES_DB=wudb "$ref" >/dev/null
  local t0=$SECONDS
  wait_for 60 "$c healthy" health_is "$c" healthy || verify_fail "$c" "postgres never became healthy"
  dA exec "$c" pg_isready -h 127.0.0.1 >/dev/null || verify_fail "$c" "pg_isready failed"
  [[ "$(dA exec -e PGPASSWORD=wu-verify "$c" psql -h 127.0.0.1 -U wu -d wudb -tAc 'select 1')" == 1 ]] ||
    verify_fail "$c" "psql over TCP with the password failed"
  [[ "$(dA exec "$c" psql -U wu -d wudb -tAc 'select current_database()')" == wudb ]] ||
    verify_fail "$c" "psql over the socket failed"
  log "verify postgres: healthy after $((SECONDS - t0)) s; pg_isready and psql select 1 ok"
  local ts te
  ts=$(date +%s%N)
  dA stop -t 30 "$c" >/dev/null
  te=$(date +%s%N)
  [[ "$(dA inspect -f '{{.State.ExitCode}}' "$c")" == 0 ]] || verify_fail "$c" "postgres did not shut down cleanly"
  log "verify postgres: docker stop took $(((te - ts) / 1000000)) ms, exit code 0"
  dA rm -fv "$c" >/dev/null
  mark_verified "$ref"
}

verify_nginx() {
  local ref="$IMAGE_PREFIX/nginx:1" c=wu-verify-nginx
  if ! needs_verify "$ref"; then
    log "verify nginx: already verified"
    return
  fi
  dA run --rm --network host "$ref" nginx -t >/dev/null 2>&1 || die "verify: nginx -t failed in $ref"
  mkdir -p "$STATE_DIR/verify"
  sed 's/127\.0\.0\.1:8081/127.0.0.1:18081/' "$TESTENV_DIR/images/nginx/default.conf" >"$STATE_DIR/verify/nginx-18081.conf"
  dA rm -fv "$c" >/dev/null 2>&1 || true
  dA run -d --name "$c" --label wu.testenv.verify=true --network host \
    -v "$STATE_DIR/verify/nginx-18081.conf:/etc/nginx/conf.d/default.conf:ro" "$ref" >/dev/null
  wait_for 15 "$c serving" curl -fsS -m 2 http://127.0.0.1:18081/healthz || verify_fail "$c" "nginx with a mounted conf did not serve"
  dA exec "$c" nginx -s reload >/dev/null 2>&1 || verify_fail "$c" "nginx -s reload failed"
  dA rm -fv "$c" >/dev/null
  log "verify nginx: nginx -t ok; mounted conf served /healthz on 127.0.0.1:18081; reload ok"
  mark_verified "$ref"
}

verify_certbot() {
  local ref="$IMAGE_PREFIX/certbot:2" v
  if ! needs_verify "$ref"; then
    log "verify certbot: already verified"
    return
  fi
  v="$(dA run --rm --network none "$ref" --version 2>&1)" || die "verify: certbot --version failed: $v"
  log "verify certbot: $v"
  mark_verified "$ref"
}

# ---------------------------------------------------------------------------
# 8. Push to the registry, pull onto engine B
# ---------------------------------------------------------------------------
registry_digest() { # REPO_PATH TAG: the tag's manifest digest, empty when absent
  {
    curl -fsS -m 5 -I \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://$REGISTRY_ADDR/v2/$1/manifests/$2" 2>/dev/null || true
  } | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}'
}

push_images() {
  local ref repo tag remote digests pushed=0
  while IFS= read -r ref; do
    repo="${ref%:*}"
    tag="${ref##*:}"
    remote="$(registry_digest "${repo#"$REGISTRY"/}" "$tag")"
    digests="$(dA image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$ref")"
    if [[ -n "$remote" ]] && grep -qxF "$repo@$remote" <<<"$digests"; then
      continue
    fi
    log "registry: pushing $ref"
    dA push "$ref" >"$LOG_DIR/push.log" 2>&1 || {
      tail -n 20 "$LOG_DIR/push.log" >&2
      die "docker push $ref failed"
    }
    pushed=$((pushed + 1))
  done < <(all_refs)
  log "registry: all $(all_refs | wc -l) wu-test images present ($pushed pushed now)"
}

pull_on_engine_b() {
  local ref old pulled=0
  while IFS= read -r ref; do
    old="$(image_id "$DOCKER_B" "$ref")"
    [[ "$old" == "$(image_id "$DOCKER_A" "$ref")" ]] && continue
    log "engine B: pulling $ref"
    dB pull "$ref" >"$LOG_DIR/pull-b.log" 2>&1 || {
      tail -n 20 "$LOG_DIR/pull-b.log" >&2
      die "engine B could not pull $ref"
    }
    drop_old_image "$DOCKER_B" "$old" "$ref"
    pulled=$((pulled + 1))
  done < <(all_refs)
  log "engine B: has all wu-test images ($pulled pulled now)"
}

write_env() {
  local tmp="$STATE_DIR/env.sh.tmp"
  cat >"$tmp" <<EOF
# Written by scripts/testenv/up.sh; source it before running the tests.
export WU_TEST_DOCKER_HOST_A=$DOCKER_A
export WU_TEST_DOCKER_HOST_B=$DOCKER_B
export WU_TEST_REGISTRY=$REGISTRY
export WU_TEST_S3_URL=http://$S3_ADDR:$S3_PORT
export WU_TEST_S3_ACCESS_KEY=S3RVER
export WU_TEST_S3_SECRET_KEY=S3RVER
export WU_TEST_SES_URL=http://$SES_ADDR:$SES_PORT
export WU_TEST_SMTP=$SMTP_ADDR:$SMTP_PORT WU_TEST_SMTP_MAILDIR=$SMTP_MAILDIR
export WU_TEST_IMAGE_PREFIX=$IMAGE_PREFIX
EOF
  mv "$tmp" "$STATE_DIR/env.sh"
  log "wrote $STATE_DIR/env.sh"
}

# ---------------------------------------------------------------------------
ensure_packages
ensure_engine_a
ensure_engine_b
ensure_registry
ensure_node_modules
ensure_s3
ensure_ses
bash "$TESTENV_DIR/chromium.sh"
bash "$TESTENV_DIR/smtp.sh"
ensure_base_image
ensure_app_images
ensure_debian_images
ensure_stack_images
if ((BUILT_SOMETHING)); then
  # Drop the untagged leftovers of earlier builds of our own images.
  dA image prune -f --filter label=wu.testenv.hash >/dev/null 2>&1 || true
fi
verify_app
verify_postgres
verify_nginx
verify_certbot
push_images
pull_on_engine_b
bash "$TESTENV_DIR/compose.sh" # docker-compose 1.29 for the deployment tests
bash "$TESTENV_DIR/dotnet-images.sh" # local/dotnet-{sdk,aspnet}:10, base images for the Dockerfile test
write_env
bash "$TESTENV_DIR/pebble.sh" start
bash "$TESTENV_DIR/stack-engine.sh" start # engine S in its own network namespace, for the stack test
log "test environment ready in $((SECONDS - T_START)) s"
