# Shared bash for the toolchain builders (build.sh, build-tools.sh): the cache, the build lock, progress
# lines and the cached/finish/run_logged steps. Source it after setting `log_name` (the progress prefix).
# shellcheck shell=bash
cache_root="${KUBE_LATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-latch}"
started=$SECONDS
log_name="${log_name:-controlplane}"

log() { printf '[%s %s +%ss] %s\n' "$log_name" "$(date +%H:%M:%S)" "$((SECONDS - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Go is needed only when something must be built; a warm cache works without it.
need_go() { command -v go >/dev/null || die "go is not on PATH; install Go >= 1.26 to build the toolchain"; }
mkdir -p "$cache_root"
# One build at a time per cache (tests, the CLI and CI may all call this at once). A script that sets
# lazy_lock=1 before sourcing takes the lock only once something must be built (cached_or_lock), so a
# cached toolchain is usable while another tool builds; the others take it here, at once.
locked=0
# leftovers: globs of an interrupted build's temp folders, removed once the lock is held (none is running).
leftovers=()
take_lock() {
  ((locked)) && return 0
  exec 9>"$cache_root/.build.lock"
  if command -v flock >/dev/null; then flock 9; fi
  locked=1
  local g; for g in "${leftovers[@]}"; do rm -rf $g; done
}
((${lazy_lock:-0})) || take_lock
tmp=""
trap '[[ -n "$tmp" ]] && rm -rf "$tmp"' EXIT

export CGO_ENABLED=0
# Small machines: two compile jobs, low priority so the machine stays usable.
go_build=(nice -n 10 go build -v -p 2 -trimpath -buildvcs=false)

# stamp_of INPUT... -> a hash of what a cached folder was built from; a change rebuilds it.
stamp_of() { printf "%s\n" "$@" | sha256sum | cut -c1-16; }

# cached DIR STAMP BIN... -> true when DIR holds every BIN, built from STAMP.
cached() {
  local dir="$1" stamp="$2"; shift 2
  [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]] || return 1
  local b; for b in "$@"; do [[ -x "$dir/$b" ]] || return 1; done
}

# cached_or_lock DIR STAMP BIN... -> cached, or else take the build lock and look again (whoever held it
# may just have built it); false means: build it now, under the lock.
cached_or_lock() {
  cached "$@" && return 0
  take_lock
  cached "$@"
}

# finish BUILT DIR STAMP -> replace DIR by the freshly built folder.
finish() {
  local built="$1" dir="$2" stamp="$3"
  echo "$stamp" > "$built/.stamp"
  chmod 755 "$built"
  rm -rf "$dir.old"
  if [[ -d "$dir" ]]; then mv "$dir" "$dir.old"; fi
  mv "$built" "$dir"; rm -rf "$dir.old"
  tmp=""   # nothing left for the EXIT trap to clean
}

# run_logged NAME LOGFILE CMD... -> runs a `go build -v`, printing a line every 100 packages
# compiled (the build is silent for minutes otherwise) and the tail of the log on failure.
run_logged() {
  local name="$1" logfile="$2"; shift 2
  local rc=0
  "$@" > "$logfile" 2>&1 &
  local pid=$! last=0 n
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    n=$(grep -cv -e '^#' -e '\.go:' -e '^go: ' "$logfile" || true)
    if ((n >= last + 100)); then log "$name: $n packages compiled"; last=$n; fi
  done
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$logfile" >&2
    die "$name build failed (exit $rc); full log: $logfile"
  fi
}
