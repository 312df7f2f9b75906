# voxd container image: one static binary on distroless, run as a non-root user.
#
#   docker build -t vox:dev .
#
# .ci/container-check repeats this build without Docker (same go build line,
# which it greps for here) and checks the result: static, runs as uid 65532
# with a read-only working directory, stops with exit 0 on SIGTERM.
# Kubernetes / Agones manifests: deploy/agones/, explained in docs/agones.md.

# Pinned by tag. In a real registry pin the digest too
# (golang:1.26.8-bookworm@sha256:...): a tag can be re-pushed, a digest cannot.
FROM golang:1.26.8-bookworm AS build
# Build with this toolchain, never a downloaded one.
ENV GOTOOLCHAIN=local
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
# libopus for the mix mode (server-side mixing, build tag opus): linked
# statically, with libc, so the binary still needs nothing at run time.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libopus-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# Static (cgo for libopus, linked with -static; pure-Go DNS and user lookup,
# so no NSS), reproducible paths, no symbol tables.
RUN CGO_ENABLED=1 CGO_LDFLAGS=-lm go build -tags opus,netgo,osusergo -trimpath -ldflags="-s -w -linkmode external -extldflags -static" -o /out/voxd ./cmd/voxd
# voxrouter (deploy/agones/router.yaml runs /voxrouter from this image): pure Go.
RUN CGO_ENABLED=0 go build -tags netgo,osusergo -trimpath -ldflags="-s -w" -o /out/voxrouter ./cmd/voxrouter

# distroless/static: CA certificates, tzdata, /etc/passwd with "nonroot"
# (65532); no shell, no package manager. It has no version tags: pin the
# digest (static-debian12:nonroot@sha256:...) in a real registry.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/voxd /voxd
COPY --from=build /out/voxrouter /voxrouter
# Numeric, so runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532

# Kubernetes defaults (each VOX_* variable is the flag of the same name;
# see `voxd --help`). voxd writes nothing to disk: the root filesystem can be
# read-only. The admin API listens on every interface, which voxd refuses
# without a token: mount one at VOX_ADMIN_TOKEN_FILE (a Secret), or set
# VOX_ADMIN_TOKEN_FILE= (empty) and VOX_ADMIN_TOKEN instead.
# The admin API is on :8081, not voxd's standalone default 8080: under Agones
# the SDK sidecar already listens on :8080 in the pod (its /gshealthz health
# endpoint), and containers of a pod share one network namespace.
ENV VOX_UDP_ADDR=:7000 \
    VOX_ADMIN_ADDR=:8081 \
    VOX_LOG_FORMAT=json \
    VOX_ADMIN_TOKEN_FILE=/var/run/secrets/vox/admin-token
EXPOSE 7000/udp 8081/tcp
# The first SIGTERM drains and stops voxd (exit 0); a second one forces the
# exit (3).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/voxd"]
