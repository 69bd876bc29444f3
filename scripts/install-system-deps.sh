#!/usr/bin/env bash
# The Debian packages a run needs, checked before it starts (npm's pretest and predemo call this; so does
# .ci/run). `test`: git (remotes, and git http-backend for the HTTPS auth path), openssh-server and
# openssh-client (a real sshd for the SSH auth path), gnupg (signed commits), chromium with fonts (renders
# simulate --plot SVGs to PNG), tmux (the status e2e reads colour from a real terminal), redis-server (Argo CD's
# cache, for the real-argocd e2e), buildah, mmdebstrap and runc (scripts/build-image.sh builds the image on
# bases made here; the image e2e runs it under runc as the chart runs it). `demo`: git.
# All present: silent, exit 0. Missing, as root with apt-get: `apt-get update` once, then one install.
# Missing otherwise: one line naming the packages and the command that installs them, exit 1, so that a
# missing prerequisite stops the run before its first test instead of surfacing as a failed one.
set -euo pipefail
what="${1:-test}"
case "$what" in
  test) pkgs=(git openssh-server openssh-client gnupg chromium fonts-liberation tmux redis-server buildah mmdebstrap runc) ;;
  demo) pkgs=(git) ;;
  *) echo "usage: $0 [test|demo]" >&2; exit 2 ;;
esac

# On Debian, ask dpkg. Elsewhere there is no package to ask about: look for what the suites run.
installed() {
  if command -v dpkg-query >/dev/null 2>&1; then
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
    return
  fi
  case "$1" in
    git) command -v git ;;
    openssh-server) command -v sshd || [ -x /usr/sbin/sshd ] ;;
    openssh-client) command -v ssh ;;
    gnupg) command -v gpg ;;
    chromium) command -v chromium || command -v chromium-browser ;;
    tmux) command -v tmux ;;
    redis-server) command -v redis-server ;;
    buildah|mmdebstrap|runc) command -v "$1" ;;
    *) true ;; # fonts: no command to look for
  esac >/dev/null 2>&1
}

need=()
for pkg in "${pkgs[@]}"; do installed "$pkg" || need+=("$pkg"); done
[ ${#need[@]} -eq 0 ] && exit 0

install="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "kube-latch: installing the Debian packages the $what needs: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then exit 0; fi
  echo "kube-latch: could not install ${need[*]} (apt-get failed); run as root: $install" >&2
  exit 1
fi
echo "kube-latch: the $what needs Debian packages that are missing: ${need[*]}; install them with: sudo sh -c '$install'" >&2
exit 1
