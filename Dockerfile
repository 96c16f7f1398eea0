# syntax=docker/dockerfile:1
# The three gitview images from one build. No container engine runs on the development
# machines, so these are built by CI or by hand:
#
#   docker build --target operator -t ghcr.io/gitview/gitview-operator:v0.1.0 .
#   docker build --target gateway  -t ghcr.io/gitview/gitview-gateway:v0.1.0 .
#   docker build --target runner   -t ghcr.io/gitview/gitview-runner:v0.1.0 .
#
# (or `docker buildx bake`-style: one `docker buildx build --target X --push` per image). Every
# image runs as UID 65532 with nothing writable but its volumes, as the chart's restricted
# security contexts require.

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gitview-operator -p gitview-gateway -p gitview-runner \
 && mkdir -p /out \
 && cp target/release/gitview-operator target/release/gitview-gateway target/release/gitview-runner /out/

# The operator polls RepositoryTrackers' remotes (gix), and over ssh:// gix spawns `ssh`: a slim
# Debian with the OpenSSH client, like the runner's.
FROM docker.io/library/debian:bookworm-slim AS operator
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/gitview-operator /usr/local/bin/gitview-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gitview-operator"]

# The gateway needs only libc and CA certificates: distroless, non-root.

FROM gcr.io/distroless/cc-debian12:nonroot AS gateway
COPY --from=build /out/gitview-gateway /usr/local/bin/gitview-gateway
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gitview-gateway"]

# The runner spawns `ssh` for ssh:// repositories (gix's ssh transport), so it needs the
# OpenSSH client: a slim Debian with only that added.
FROM docker.io/library/debian:bookworm-slim AS runner
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/gitview-runner /usr/local/bin/gitview-runner
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gitview-runner"]
CMD ["run"]
