# syntax=docker/dockerfile:1
# kube-latch: one image for `kube-latch webhook` and `kube-latch watcher` (and the other subcommands).
#
#   docker build -t kube-latch:dev .          (or scripts/build-image.sh, with buildah and no registry)
#   docker run --rm --read-only --tmpfs /tmp kube-latch:dev simulate --help
#
# Four stages. `build` compiles TypeScript with the dev dependencies; `deps` installs the production
# dependencies alone (the `node` dev dependency, a second Node binary, never reaches the runtime) and drops
# what only a compiler reads (type declarations, source maps); `rootfs` assembles the runtime's files from
# Debian packages (the libraries Node needs, git, ssh, tini, sh and sleep; no package manager, no perl, no
# docs); the runtime is those files `FROM scratch` plus Node's binary, running as uid 65532 on a read-only
# root filesystem. docs/install.md says what the image holds and why.

# A Node 24 image (npm, for the two build stages; its node binary is the runtime's) and a Debian bookworm
# image with apt (the runtime's packages come from its apt sources).
ARG NODE_IMAGE=node:24-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && find dist -name '*.d.ts' -delete -o -name '*.map' -delete

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: no production dependency needs one, and none should run at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && find node_modules \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.ts' \) -type f -delete \
 && find node_modules -depth -type d \( -name test -o -name tests -o -name __tests__ -o -name benchmark -o -name bench -o -name example -o -name examples -o -name docs \) -exec rm -rf {} + \
 && rm -rf node_modules/@types

FROM ${DEBIAN_IMAGE} AS rootfs
# The runtime's packages and every library they link, unpacked into /rootfs without running their scripts.
# Left out: the package manager and its database tools, perl (git's porcelain scripts only; clone, fetch,
# commit and push are built into git), debconf, PAM and passwd (ssh needs a passwd entry, written below),
# and every manual, doc and locale. Of coreutils only `sleep` stays (the chart's preStop runs /bin/sleep).
# The check at the end fails the build if any program left here misses a library.
ARG RUNTIME_PACKAGES="dash git openssh-client tini ca-certificates libstdc++6 coreutils"
ARG LEFT_OUT="adduser cdebconf debconf debianutils dpkg git-man install-info liberror-perl libperl5.36 perl perl-base perl-modules-5.36 passwd tar readline-common libreadline8 libdebian-installer4 libnewt0.52 libslang2 libtextwrap1 libgdbm6 libgdbm-compat4 libpam-modules libpam-modules-bin libpam0g libsemanage2 libsemanage-common libsepol2 libaudit1 libaudit-common libcap-ng0 libdb5.3"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates binutils \
 && mkdir -p /tmp/debs /rootfs && cd /tmp/debs \
 && apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances $RUNTIME_PACKAGES \
      | grep -v -e '^ ' -e '^<' | sort -u > all \
 && printf '%s\n' $LEFT_OUT | sort -u > left-out \
 && comm -23 all left-out > keep \
 && apt-get download $(cat keep) \
 && for deb in *.deb; do dpkg-deb -x "$deb" /rootfs; done \
 && cd /rootfs \
 && rm -rf usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian usr/share/bash-completion \
           usr/share/gitweb usr/share/perl5 usr/lib/git-core/mergetools etc/cron.* usr/lib/x86_64-linux-gnu/gconv \
 && for f in $(dpkg-deb -c /tmp/debs/coreutils_*.deb | awk '{print $6}' | sed 's|^\./||' | grep -e '^bin/.' -e '^usr/bin/.' -e '^usr/sbin/.'); do \
      case "$f" in bin/sleep) ;; *) rm -f "$f" ;; esac; done \
 && rm -f usr/bin/openssl usr/bin/c_rehash usr/bin/tini-static usr/bin/scalar usr/bin/git-shell usr/bin/git-upload-archive \
          usr/bin/scp usr/bin/sftp usr/bin/ssh-add usr/bin/ssh-agent usr/bin/ssh-argv0 usr/bin/ssh-copy-id usr/bin/ssh-keyscan \
          usr/lib/git-core/scalar usr/lib/git-core/git-shell usr/lib/git-core/git-daemon usr/lib/git-core/git-http-backend \
          usr/lib/git-core/git-http-push usr/lib/git-core/git-http-fetch usr/lib/git-core/git-imap-send \
 && for f in usr/lib/git-core/*; do [ -L "$f" ] || ! head -n1 "$f" | grep -q perl || rm -f "$f"; done \
 && cp /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/ca-certificates.crt \
 && mkdir -p tmp var/lib/kube-latch app usr/local/bin \
 && chmod 1777 tmp \
 && chown 65532:65532 var/lib/kube-latch \
 && printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin\n' > etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > etc/group \
 && ln -sf dash bin/sh
COPY --from=build /usr/local/bin/node /rootfs/usr/local/bin/node
# Node's release binary carries its full symbol table (15 MB); JavaScript stack traces and native addons
# (which link against .dynsym, kept) do not need it.
RUN strip /rootfs/usr/local/bin/node \
 && cd /rootfs \
 && for f in $(find bin usr/bin usr/lib/git-core usr/lib/openssh usr/local/bin -type f -perm -u+x); do \
      if readelf -l "$f" 2>/dev/null | grep -q 'program interpreter'; then \
        libs=$(chroot /rootfs /lib64/ld-linux-x86-64.so.2 --list "/$f" 2>&1) || { echo "rootfs: /$f: $libs" >&2; exit 1; }; \
        case "$libs" in *'not found'*) echo "rootfs: /$f misses a library: $libs" >&2; exit 1 ;; esac; \
      fi; done

FROM scratch AS runtime
COPY --from=rootfs /rootfs /
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./

# Everything that writes goes to /tmp (HOME, git's and ssh's files) or the git work dir, both emptyDirs
# in the Helm chart, so the root filesystem can be mounted read-only. tini as PID 1 forwards SIGTERM for a
# graceful shutdown and reaps the ssh processes that git leaves behind.
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    GIT_TERMINAL_PROMPT=0 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/node", "/app/dist/cli/main.js"]
CMD ["--help"]

LABEL org.opencontainers.image.title="kube-latch" \
      org.opencontainers.image.description="Mutating admission webhook and git write-back watcher that latch spec.replicas" \
      org.opencontainers.image.licenses="Apache-2.0"
