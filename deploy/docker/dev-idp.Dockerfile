# syntax=docker/dockerfile:1
# DEV ONLY: the local OpenID Provider with CIBA (tools/dev-idp) for the dev
# overlay. Build from the repository root:
#   docker build -f deploy/docker/dev-idp.Dockerfile -t cantdo-dev-idp:0.1.0-dev .
# Node 20 as on the development machines (Debian 12's Node 18 is too old for
# oidc-provider 9). The digest is a PLACEHOLDER (see cantdo.Dockerfile):
# set node:20-bookworm-slim's current one here or with --build-arg NODE_IMAGE=...
ARG NODE_IMAGE=node:20-bookworm-slim@sha256:0000000000000000000000000000000000000000000000000000000000000000
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY tools/dev-idp/package.json tools/dev-idp/package-lock.json tools/dev-idp/.npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY tools/dev-idp/package.json tools/dev-idp/server.js ./
# npm is not needed at run time.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /opt/yarn* /usr/local/bin/yarn*
USER 10001:10001
ENV NODE_ENV=production
CMD ["node", "server.js"]
