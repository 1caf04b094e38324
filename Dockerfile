# syntax=docker/dockerfile:1
# Petrel service image. Redis is not inside: point PETREL_REDIS_URL at one
# (default: a host named "redis", as in a compose file).

# --- build: all dependencies, compile TypeScript to dist/ ---------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first, so the dependency layer is reused when only sources change.
COPY package.json package-lock.json ./
COPY sdk-client/package.json sdk-client/
# `npm ci` refuses a lock file that lacks other platforms' optional packages (as one made
# against a registry mirror without them does); `npm install --no-save` then installs the
# same locked versions without rewriting the lock. scripts/lib/deps.mjs does the same.
RUN npm ci --no-audit --no-fund \
 || npm install --no-save --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json

# --- runtime: production dependencies and compiled code only ------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk-client/package.json sdk-client/
RUN (npm ci --omit=dev --no-audit --no-fund \
  || npm install --no-save --omit=dev --no-audit --no-fund) \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# Writable state for the service, owned by the unprivileged user it runs as.
RUN mkdir -p /var/lib/petrel && chown node:node /var/lib/petrel
ENV PETREL_DATA_DIR=/var/lib/petrel
ENV PETREL_REDIS_URL=redis://redis:6379
USER node
# 5223: device gateway (long connections); 8080: HTTP API, /healthz, /readyz, /metrics.
EXPOSE 5223 8080
CMD ["node", "dist/src/cmd/petrel.js", "all"]
