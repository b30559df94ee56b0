# syntax=docker/dockerfile:1
# incident-bot: one image for every role (serve, worker, migrate, check-config, render).
# Not built on the machines this project is developed on (they have no Docker engine): see README.

ARG NODE_VERSION=24

# Build: the TypeScript compiler is a dev dependency, so it stays in this stage.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing the build needs runs one. No optional dependencies: those are the
# sandbox's embedded PostgreSQL binaries, which an image (always a deployment) never runs.
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies, the compiled code, and the files it reads at run time
# (templates/ and migrations/ are found next to dist/, config/ is read from the working directory).
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY templates ./templates
COPY migrations ./migrations
COPY config/incident-bot.example.yml ./config/incident-bot.example.yml
# `doctor` checks the token's scopes against the manifest's.
COPY manifest.yml ./manifest.yml
USER node
EXPOSE 3000
# /healthz answers on PORT for every long-running role (serve and worker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: it drains for up to SHUTDOWN_TIMEOUT, then exits 0.
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
