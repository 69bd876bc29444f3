#!/usr/bin/env bash
# Debian packages the tests need: git (remotes, and git http-backend for the HTTPS auth path), openssh (a
# real sshd for the SSH auth path), gnupg (signed commits), chromium with fonts (renders simulate --plot SVGs to PNG).
# Idempotent and quiet when all are present.
set -euo pipefail
need=()
for pkg in git openssh-server openssh-client gnupg chromium fonts-liberation; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
