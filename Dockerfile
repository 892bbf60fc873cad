# syntax=docker/dockerfile:1
# Visto's server image.
#
#   docker build -t visto .
#   docker run -p 127.0.0.1:7860:7860 -v visto:/data visto   # default model, downloaded into the volume
#   docker run … visto --model /models/m.gguf --mmproj /models/mmproj.gguf   # arguments are `visto serve` flags
#
# Everything Visto writes (models, batch state, uploaded files) lives under /data, the one
# volume. The engine is compiled here exactly as `npm install` does it (`visto engine build`:
# llama.cpp from node-llama-cpp's bundled source, Visto's patches, GGML_NATIVE), so the image
# runs on CPUs like the one that built it: build it on (or for) the machine that runs it.
#
# Targets: the default (last) stage is the CPU image. `--target cuda` is a CUDA variant that
# has never been built or run by the project (no GPU in CI); see the README.

ARG BASE_IMAGE=node:20-bookworm-slim
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04

# ─── build: dependencies and TypeScript ───────────────────────
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make git python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# better-sqlite3 compiles its addon when no prebuilt one can be downloaded; node-gyp then
# uses the headers the Node image carries instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/sdk/package.json packages/sdk/
COPY packages/testkit/package.json packages/testkit/
COPY packages/webui/package.json packages/webui/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
# No install scripts: node-llama-cpp's would fetch its own binaries, and the root postinstall
# (tsc -b, then `visto engine build`) runs below, step by step, once the sources are here.
RUN --mount=type=cache,id=visto-npm,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY packages packages
RUN node_modules/.bin/tsc -b

# ─── engine-cpu: llama-server, compiled as `npm install` compiles it ──────────
FROM build AS engine-cpu
# The build is cached (keyed by llama.cpp version, patches and flavor) in a build cache that
# outlives this layer, so changing Visto's code does not recompile llama.cpp.
RUN --mount=type=cache,id=visto-engine-cpu,target=/root/.cache/visto \
    node packages/cli/bin/visto.js engine build --cpu \
 && install -m 0755 "$(node packages/cli/bin/visto.js engine path)" /usr/local/bin/llama-server

# ─── app: production dependencies only ────────────────────────────────────────
FROM build AS app
# Without what Visto never runs: node-llama-cpp's prebuilt binaries (about 700 MB: CPU, CUDA,
# Vulkan, ARM), its llama.cpp source (the engine stages build from it) and TypeScript (its
# optional peer, which prune keeps), sharp's WebAssembly fallback (the native build is there),
# better-sqlite3's sources and objects, Visto's TypeScript sources and the test-model kit.
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@node-llama-cpp node_modules/node-llama-cpp/llama node_modules/node-llama-cpp/bins \
      node_modules/typescript node_modules/@img/sharp-wasm32 \
      node_modules/better-sqlite3/deps node_modules/better-sqlite3/src node_modules/better-sqlite3/build/Release/obj* \
      node_modules/better-sqlite3/build/Release/.deps node_modules/better-sqlite3/build/Release/test_extension.node \
      node_modules/better-sqlite3/build/deps node_modules/@visto/testkit packages/testkit packages/*/src \
      packages/*/tsconfig.json packages/*/dist/.tsbuildinfo tsconfig*.json

# ─── CUDA variant (never built by the project: no GPU in CI) ──────────────────
FROM ${CUDA_DEVEL_IMAGE} AS cuda-build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /app /app
WORKDIR /app
# The build has no GPU to detect: `visto engine build` passes CUDAARCHS on to CMake.
ENV CUDAARCHS="75;80;86;89;90"
RUN --mount=type=cache,id=visto-engine-cuda,target=/root/.cache/visto \
    node packages/cli/bin/visto.js engine build --cuda \
 && install -m 0755 "$(node packages/cli/bin/visto.js engine path)" /usr/local/bin/llama-server

FROM ${CUDA_RUNTIME_IMAGE} AS cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin visto \
 && mkdir -p /data && chown visto:visto /data && chmod 0700 /data
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=app /app /app
COPY --from=cuda-build /usr/local/bin/llama-server /usr/local/bin/llama-server
RUN ln -s /app/packages/cli/bin/visto.js /usr/local/bin/visto
ENV NODE_ENV=production VISTO_CACHE=/data VISTO_HOST=0.0.0.0 VISTO_PORT=7860
VOLUME ["/data"]
EXPOSE 7860
USER visto
WORKDIR /data
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.VISTO_PORT || 7860}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/packages/cli/bin/visto.js", "serve"]
CMD []

# ─── runtime (the default target): Node, production dependencies, llama-server ──
FROM ${BASE_IMAGE} AS runtime
# llama-server links OpenMP (libgomp); it is the only native library the slim image lacks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin visto \
 && mkdir -p /data && chown visto:visto /data && chmod 0700 /data
COPY --from=app /app /app
COPY --from=engine-cpu /usr/local/bin/llama-server /usr/local/bin/llama-server
RUN ln -s /app/packages/cli/bin/visto.js /usr/local/bin/visto
# VISTO_CACHE=/data puts the models (/data/models) and the batch and file data (/data/data)
# in the volume; the engine is on PATH, outside it. Flags after the image name override these.
ENV NODE_ENV=production VISTO_CACHE=/data VISTO_HOST=0.0.0.0 VISTO_PORT=7860
VOLUME ["/data"]
EXPOSE 7860
USER visto
WORKDIR /data
# /health answers 503 while the model loads, 200 once it serves. The first start may download
# several GB before listening at all, hence the long start period. No curl in the slim image:
# Node's fetch does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.VISTO_PORT || 7860}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1: `visto serve` handles SIGTERM itself (drains for --drain-seconds, stops
# llama-server, exits 0), so no init process is needed.
ENTRYPOINT ["node", "/app/packages/cli/bin/visto.js", "serve"]
CMD []
