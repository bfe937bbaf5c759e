# expect: FROM debian:bookworm: base image not pinned by digest
# A fixture the project check must reject (scripts/validate-k8s asserts it).
# A base image by tag only: the build changes under the same tag.
ARG BUILDER=debian:bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000
FROM ${BUILDER} AS build
RUN true
FROM debian:bookworm
COPY --from=build /etc/hostname /x
