# vitals in a container: a static Go binary on a minimal, non-root image.
#
#   docker build -t vitals --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v vitals-data:/data vitals
#
# Beside an application, copy the binary into the application's image
# instead (docs/deploy.md):
#   COPY --from=vitals /vitals /usr/local/bin/vitals

# --- build ---------------------------------------------------------------
FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change. The
# Go client is a module of its own that go.mod replaces with ./client.
COPY go.mod go.sum ./
COPY client/go.mod ./client/
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary links nothing
# from the system and runs on an image with no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/vitalsdev/vitals/internal/version.Version=${VERSION}" -o /out/vitals . \
 && mkdir -p /out/data

# --- run -----------------------------------------------------------------
# distroless/static: CA certificates (for PostgreSQL and Redis over TLS),
# time zones, a non-root user (65532), and no shell, package manager or curl.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vitals /vitals
# The SQLite store's directory, owned by the non-root user so that a fresh
# named volume mounted here inherits that owner.
COPY --from=build --chown=65532:65532 /out/data /data
ENV PORT=8080 \
    VITALS_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
# The health check is vitals itself (GET /health on 127.0.0.1:$PORT): the
# image has no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/vitals", "healthcheck"]
# SIGTERM (docker stop) shuts down gracefully within
# VITALS_SHUTDOWN_TIMEOUT, 8 s by default: within docker stop's 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/vitals"]
CMD ["serve"]
