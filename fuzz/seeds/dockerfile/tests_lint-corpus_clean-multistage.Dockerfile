# syntax=docker/dockerfile:1.7
# check=error=true

ARG GO_VERSION=1.22.5

# Build with the full toolchain; only the binary leaves this stage.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/server ./cmd/server

FROM debian:12.6-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home app
COPY --from=build --chown=10001:10001 /out/server /usr/local/bin/server
LABEL org.opencontainers.image.authors="team <team@example.com>"
ENV APP_ENV=production DB_PASSWORD_FILE=/run/secrets/db
WORKDIR /srv
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/server", "-healthcheck"]
USER app
ENTRYPOINT ["/usr/local/bin/server"]
CMD ["--listen", ":8080"]
