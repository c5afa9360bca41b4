# syntax=docker/dockerfile:1
#
# leakwatch container image.
#
#   docker build -t leakwatch .                    # app only: worker / web / CLI (scale mode)
#   docker build -t leakwatch:embedded --target embedded .
#                                                  # + leakwatch-temporal, for `leakwatch up`
#
# Scale mode (docker-compose.yml) points temporal.address at an external
# Temporal cluster, so the default image carries only the app binary and never
# pays for the embedded server's long cold compile (see DESIGN.md §2).
# Configuration: mount a file at /etc/leakwatch/leakwatch.yaml and pass
# --config, and/or set LEAKWATCH_* variables (see leakwatch.example.yaml).

############################ build ############################
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so editing sources does not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=0: every driver we use is pure Go (glebarez/sqlite, pgx), so the
# binary is static and runs on any base image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/leakwatch ./cmd/leakwatch

# Built only for --target embedded (BuildKit skips unused stages).
FROM build AS build-temporal
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/leakwatch-temporal ./cmd/leakwatch-temporal

############################ runtime base ############################
# debian-slim rather than distroless: the PDF extractor falls back to
# poppler-utils' pdftotext when it is installed, and that needs a libc.
FROM debian:trixie-slim AS base
# tesseract-ocr reads scanned pages and photographed documents
# (fingerprints.ocr: auto finds it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata poppler-utils tesseract-ocr tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/*
# Fixed numeric IDs so volumes and Kubernetes runAsUser/fsGroup line up.
RUN groupadd --system --gid 10001 leakwatch \
 && useradd --system --uid 10001 --gid leakwatch --home-dir /var/lib/leakwatch \
      --shell /usr/sbin/nologin leakwatch \
 && mkdir -p /var/lib/leakwatch /etc/leakwatch \
 && chown leakwatch:leakwatch /var/lib/leakwatch
# data_dir: evidence (WARC) files, and the SQLite databases when no DSN is set.
# A named volume mounted here inherits this ownership.
ENV LEAKWATCH_DATA_DIR=/var/lib/leakwatch
WORKDIR /var/lib/leakwatch
VOLUME ["/var/lib/leakwatch"]
# web.listen must be 0.0.0.0:8080 (LEAKWATCH_WEB_LISTEN) to be reachable from outside.
EXPOSE 8080
USER 10001:10001
ENTRYPOINT ["leakwatch"]

############################ tor (compose's SOCKS proxy) ############################
# Debian's tor as a SOCKS proxy for the compose network: workers reach it as
# tor:9050 (socks5h, so Tor resolves names). No control port, no relay.
# Bootstrap progress goes to a file the compose health check reads.
FROM debian:trixie-slim AS tor
RUN apt-get update \
 && apt-get install -y --no-install-recommends tor \
 && rm -rf /var/lib/apt/lists/* \
 && printf '%s\n' \
      'SocksPort 0.0.0.0:9050' \
      'SocksPolicy accept 10.0.0.0/8' 'SocksPolicy accept 172.16.0.0/12' 'SocksPolicy accept 192.168.0.0/16' 'SocksPolicy reject *' \
      'DataDirectory /var/lib/tor' \
      'Log notice file /var/lib/tor/notices.log' 'Log notice stdout' \
      > /etc/tor/torrc
USER debian-tor
EXPOSE 9050
# The log is truncated at start so the health check sees this run's bootstrap.
CMD ["sh", "-c", ": > /var/lib/tor/notices.log; exec tor -f /etc/tor/torrc"]

############################ embedded (optional) ############################
# Single-container `leakwatch up`: the app finds leakwatch-temporal next to its
# own executable (temporal.server_binary empty).
FROM base AS embedded
COPY --from=build /out/leakwatch /usr/local/bin/leakwatch
COPY --from=build-temporal /out/leakwatch-temporal /usr/local/bin/leakwatch-temporal
CMD ["up", "--config", "/etc/leakwatch/leakwatch.yaml"]

############################ runtime (default) ############################
FROM base AS runtime
COPY --from=build /out/leakwatch /usr/local/bin/leakwatch
