# syntax=docker/dockerfile:1
# One image with every cantdo binary: the four services, cantdo-migrate (the
# migration Job), cantdo-grpcurl (the health probes), cantdo-ledger, and
# cantdo-demo-platform (the dev overlay's demo customer platform).
# Build from the repository root with BuildKit (docs/deploy.md, "Images"):
#   docker build -f deploy/docker/cantdo.Dockerfile -t REGISTRY/cantdo:0.1.0 .
#
# Base images are pinned by digest (scripts/validate-k8s insists). The
# digests below are PLACEHOLDERS (all zeros: no registry was reachable
# where this was written, and a made-up digest would only look real):
# set the current ones, e.g. from
#   docker buildx imagetools inspect debian:bookworm --format '{{json .Manifest.Digest}}'
# here or with --build-arg BUILD_IMAGE=... --build-arg RUNTIME_IMAGE=...;
# a build with the placeholders fails at the pull.
ARG BUILD_IMAGE=debian:bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000
ARG RUNTIME_IMAGE=debian:bookworm-slim@sha256:0000000000000000000000000000000000000000000000000000000000000000

# --- build: Debian 12, the same packages as scripts/setup, release preset ---
FROM ${BUILD_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# apt's cache survives between builds (cache mounts; docker-clean would
# empty it after every install).
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libprotoc-dev \
      grpc-proto golang-github-gogo-googleapis-dev \
      libabsl-dev libssl-dev openssl libpq-dev postgresql-15 postgresql-client-15 \
      libboost-dev libboost-program-options-dev nlohmann-json3-dev libspdlog-dev catch2
WORKDIR /src
# Only what the build reads (no docs, tests, benchmarks, scripts or
# deploy files): editing those does not invalidate the build layers.
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake cmake
COPY proto proto
COPY db db
COPY libs libs
COPY services services
COPY tools tools
COPY fuzz fuzz
# ccache keeps compiled objects between builds (a cache mount, not a layer).
ENV CCACHE_DIR=/root/.cache/ccache
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake --preset release -DCANTDO_BUILD_TESTS=OFF -DCANTDO_BUILD_BENCH=OFF \
 && cmake --build --preset release --target \
      cantdo-gateway cantdo-authority cantdo-worker cantdo-ciba-bridge \
      cantdo-migrate cantdo-grpcurl cantdo-ledger cantdo-demo-platform \
 && mkdir -p /out \
 && cp build/release/services/gateway/cantdo-gateway \
       build/release/services/authority/cantdo-authority \
       build/release/services/worker/cantdo-worker \
       build/release/services/ciba-bridge/cantdo-ciba-bridge \
       build/release/tools/migrate/cantdo-migrate \
       build/release/tools/grpcurl/cantdo-grpcurl \
       build/release/tools/ledger/cantdo-ledger \
       build/release/tools/demo-platform/cantdo-demo-platform /out/ \
 && strip --strip-debug /out/*

# --- runtime: bookworm-slim with only the shared libraries the binaries load ---
# (the list is `ldd` of the binaries mapped to Debian packages; the RUN below
# fails the build if any library is missing). No compiler, no sources.
FROM ${RUNTIME_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 zlib1g \
      libssl3 libpq5 libboost-program-options1.74.0 libspdlog1.10 libfmt9 \
 && groupadd --system --gid 10001 cantdo \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cantdo
COPY --from=build /out/ /usr/local/bin/
RUN if ldd /usr/local/bin/cantdo-* | grep 'not found'; then echo 'missing shared libraries' >&2; exit 1; fi
USER 10001:10001
# Ports: gateway 8443, authority 9443, ciba-bridge 9444 (+9446 ping callback), worker 9445.
EXPOSE 8443 9443 9444 9445 9446
# The Kubernetes manifests set the command (cantdo-<service>, cantdo-migrate).
ENTRYPOINT []
CMD ["cantdo-gateway", "--help"]
