# syntax=docker/dockerfile:1
# One image with every cantdo binary: the four services, cantdo-migrate (the
# migration Job), cantdo-grpcurl (the health probes) and cantdo-ledger.
# Build from the repository root (docs/deploy.md):
#   docker build -f deploy/docker/cantdo.Dockerfile -t REGISTRY/cantdo:0.1.0 .
# Not built in CI here (no container engine on the build machine).

# --- build: Debian 12, the same packages as scripts/setup, release preset ---
FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config git \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libprotoc-dev \
      grpc-proto golang-github-gogo-googleapis-dev \
      libabsl-dev libssl-dev openssl libpq-dev postgresql-15 postgresql-client-15 \
      libboost-dev libboost-program-options-dev nlohmann-json3-dev libspdlog-dev catch2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build \
 && cmake --preset release -DCANTDO_BUILD_TESTS=OFF -DCANTDO_BUILD_BENCH=OFF \
 && cmake --build --preset release --target \
      cantdo-gateway cantdo-authority cantdo-worker cantdo-ciba-bridge \
      cantdo-migrate cantdo-grpcurl cantdo-ledger \
 && mkdir -p /out \
 && cp build/release/services/gateway/cantdo-gateway \
       build/release/services/authority/cantdo-authority \
       build/release/services/worker/cantdo-worker \
       build/release/services/ciba-bridge/cantdo-ciba-bridge \
       build/release/tools/migrate/cantdo-migrate \
       build/release/tools/grpcurl/cantdo-grpcurl \
       build/release/tools/ledger/cantdo-ledger /out/ \
 && strip --strip-debug /out/*

# --- runtime: bookworm-slim with only the shared libraries the binaries load ---
# (the list is `ldd` of the binaries mapped to Debian packages; the RUN below
# fails the build if any library is missing). No compiler, no sources.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 zlib1g \
      libssl3 libpq5 libboost-program-options1.74.0 libspdlog1.10 libfmt9 \
 && rm -rf /var/lib/apt/lists/* \
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
