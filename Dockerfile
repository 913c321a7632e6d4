# putsh as a container image: the Native AOT binary on a chiseled (distroless) base, running as a non-root user.
#   docker build -t putsh .
#   docker run --rm -p 8080:8080 -p 8081:8081 -e PUTSH_Router__AdminToken=... putsh router \
#       --listen http://0.0.0.0:8080 --register http://0.0.0.0:8081 --admin http://0.0.0.0:9091 --registration-token-file /run/secrets/tokens
#   docker run --rm putsh connector --routers ws://router:8081 --route hello --target http://app:3000 --token-file /run/secrets/token
# The image has no shell; its health check is `putsh probe` against the admin listener's /health/ready, which is
# there when the command line gives --admin http://0.0.0.0:9091 (the router and the connector both have one).

# ---- build: the SDK, plus what the Native AOT link needs
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The project files first, so that the restore is cached until they change.
COPY Directory.Build.props Directory.Packages.props global.json* nuget.config* ./
COPY src/Directory.Build.props src/BannedSymbols.txt src/
COPY src/Putsh.Protocol/Putsh.Protocol.csproj src/Putsh.Protocol/
COPY src/Putsh.Router/Putsh.Router.csproj src/Putsh.Router/
COPY src/Putsh.Connector/Putsh.Connector.csproj src/Putsh.Connector/
COPY src/Putsh.Cli/Putsh.Cli.csproj src/Putsh.Cli/
RUN dotnet restore src/Putsh.Cli/Putsh.Cli.csproj -r linux-x64 -p:PublishAot=true
COPY src/ src/
RUN dotnet publish src/Putsh.Cli/Putsh.Cli.csproj -c Release -r linux-x64 -p:PublishAot=true --no-restore -o /out \
    && rm -f /out/*.dbg /out/*.pdb /out/*.xml

# ---- run: libc, OpenSSL's libraries and CA certificates only; user 1654 ("app"), no shell, no package manager
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled
COPY --from=build /out/putsh /putsh
USER 1654:1654
EXPOSE 8080 8081 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/putsh", "probe", "--timeout", "2s", "http://127.0.0.1:9091/health/ready"]
# SIGTERM drains (see the README's "Stopping and deploying"); give `docker stop -t` more than --shutdown-timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/putsh"]
CMD ["--help"]
