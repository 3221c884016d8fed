# WebhookUpdater container image.
#
#   docker build -t webhook-updater --build-arg DOCKER_GID=$(stat -c %g /var/run/docker.sock) .
#
# Build arguments:
#   SDK_IMAGE, RUNTIME_IMAGE  the .NET 10 SDK and ASP.NET Core runtime images (official ones by
#                             default; the tests pass images made locally, see
#                             scripts/testenv/dotnet-images.sh)
#   UPDATER_UID               uid (and gid) of the non-root user the service runs as (not
#                             APP_UID: the official images set that as ENV, which wins over ARG)
#   DOCKER_GID                group id of /var/run/docker.sock on the host the image runs on:
#                             the user joins that group, so it can use the mounted socket
#                             without being root. Rebuild when the host's docker group changes.
#                             (Using the socket is still root on the host: docs/deployment.md.)
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

# ---------------------------------------------------------------------------------------------
FROM ${SDK_IMAGE} AS build
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
WORKDIR /src

# The runtime identifier of the platform being built (the classic builder has no TARGETARCH).
ARG TARGETARCH
RUN arch="${TARGETARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}"; \
    case "$arch" in \
      amd64|x86_64) echo linux-x64 ;; \
      arm64|aarch64) echo linux-arm64 ;; \
      *) echo "unsupported architecture: $arch" >&2; exit 1 ;; \
    esac >/tmp/rid

# Restore first, from the project and build files only: this layer is reused until a package
# or build setting changes, not on every source edit.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/WebhookUpdater/WebhookUpdater.csproj src/WebhookUpdater/
RUN dotnet restore src/WebhookUpdater/WebhookUpdater.csproj -r "$(cat /tmp/rid)"

COPY src/ src/
# Framework-dependent for one runtime identifier: only that platform's native SQLite library is
# published, and the runtime image already carries the ASP.NET Core shared framework.
RUN dotnet publish src/WebhookUpdater/WebhookUpdater.csproj -c Release --no-restore \
      -r "$(cat /tmp/rid)" --self-contained false -p:UseAppHost=false -o /app \
 && rm -f /app/*.pdb /app/appsettings.Development.json

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS final
ARG UPDATER_UID=10001
ARG DOCKER_GID=999
# The socket's group may already exist in the image under another name (gid 0 is root's):
# then the user joins that one.
RUN set -eu; \
    groupadd --system --gid "$UPDATER_UID" updater; \
    useradd --system --uid "$UPDATER_UID" --gid updater --home-dir /data --no-create-home --shell /usr/sbin/nologin updater; \
    docker_group="$(getent group "$DOCKER_GID" | cut -d: -f1)"; \
    if [ -z "$docker_group" ]; then groupadd --gid "$DOCKER_GID" docker-host; docker_group=docker-host; fi; \
    usermod --append --groups "$docker_group" updater; \
    mkdir -p /data; \
    chown "$UPDATER_UID:$UPDATER_UID" /data; \
    chmod 700 /data

COPY --from=build /app /app

ENV ASPNETCORE_URLS=http://+:8080 \
    ASPNETCORE_ENVIRONMENT=Production \
    Store__DataDirectory=/data
WORKDIR /app
USER ${UPDATER_UID}
VOLUME /data
EXPOSE 8080
# No curl or wget in the runtime image: the service's own binary probes /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["dotnet", "/app/WebhookUpdater.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "/app/WebhookUpdater.dll"]
