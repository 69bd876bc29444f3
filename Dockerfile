# syntax=docker/dockerfile:1
# kube-latch: one image for `kube-latch webhook` and `kube-latch watcher` (and the other subcommands).
#
#   docker build -t kube-latch:dev .
#   docker run --rm --read-only --tmpfs /tmp kube-latch:dev simulate --help
#
# Three stages: `build` compiles TypeScript with the dev dependencies, `deps` installs the production
# dependencies alone (the `node` dev dependency, a second Node binary, never reaches the runtime), and the
# runtime is a slim Node 24 with git and ssh, running as uid 65532 on a read-only root filesystem.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: no production dependency needs one, and none should run at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# - git and ssh for the watcher's clone, fetch and push; tini as PID 1 forwards SIGTERM for a graceful
#   shutdown and reaps the ssh processes that git leaves behind;
# - npm, npx and corepack are build tools, removed: the runtime has no use for them;
# - ssh refuses to run for a uid without a passwd entry, so the non-root uid 65532 gets one.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin nonroot

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
RUN ln -s /app/dist/cli/main.js /usr/local/bin/kube-latch \
 && mkdir -p /var/lib/kube-latch \
 && chown 65532:65532 /var/lib/kube-latch

# Everything that writes goes to /tmp (HOME, git's and ssh's files) or the git work dir, both emptyDirs
# in the Helm chart, so the root filesystem can be mounted read-only.
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    GIT_TERMINAL_PROMPT=0

USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/usr/bin/tini", "--", "kube-latch"]
CMD ["--help"]

LABEL org.opencontainers.image.title="kube-latch" \
      org.opencontainers.image.description="Mutating admission webhook and git write-back watcher that latch spec.replicas" \
      org.opencontainers.image.licenses="Apache-2.0"
