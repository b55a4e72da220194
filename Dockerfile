# nagaya: one image for the API and the worker (docker-compose.yml picks the role).
# Build: docker build -t nagaya .   (docker compose build does it for you)

# ---- build: dependencies, the native addon and launcher, TypeScript, the dashboard ----------
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# npm ci builds packages/native (node-gyp: the addon, the static C launcher and extractor)
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: node, busybox-static for the default image, tini for containers with an init -
FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static tini ca-certificates nftables apache2-utils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    NAGAYA_DATA_DIR=/var/lib/nagaya \
    PORT=8080
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/migrations/package.json ./migrations/package.json
COPY --from=build /app/migrations/dist ./migrations/dist
COPY --from=build /app/packages/allocator/package.json ./packages/allocator/package.json
COPY --from=build /app/packages/allocator/dist ./packages/allocator/dist
COPY --from=build /app/packages/native/package.json ./packages/native/package.json
COPY --from=build /app/packages/native/dist ./packages/native/dist
COPY --from=build /app/packages/native/build/Release/nagaya_native.node ./packages/native/build/Release/nagaya_native.node
COPY --from=build /app/packages/native/build/Release/nagaya-launcher ./packages/native/build/Release/nagaya-launcher
COPY --from=build /app/packages/native/build/Release/nagaya-extract ./packages/native/build/Release/nagaya-extract
COPY --from=build /app/packages/server/package.json ./packages/server/package.json
COPY --from=build /app/packages/server/dist ./packages/server/dist
COPY --from=build /app/packages/server/dashboard/dist ./packages/server/dashboard/dist
COPY docker/healthcheck.js ./docker/healthcheck.js
RUN ln -s /app/packages/server/dist/cli/nagaya.js /usr/local/bin/nagaya
VOLUME /var/lib/nagaya
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/docker/healthcheck.js"]
ENTRYPOINT ["node", "/app/packages/server/dist/cli/nagaya.js"]
CMD ["serve"]
