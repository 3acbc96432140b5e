# What ingest.sh, spool.sh and relay.sh share; each sources it after
# `set -euo pipefail` and the cd to the repository's root:
#
#   $tmp     a new directory for the binaries, removed at exit
#   $work    the bench's work directory once make_work has made it, removed at
#            exit unless $keep is set (take_args --keep)
#   on exit, the bench run_bench started is stopped first (SIGTERM: it kills the
#   process groups it started); INT, TERM and HUP exit with 130 through that.
script=${0##*/}
tmp=$(mktemp -d)
work=
keep=
bench_pid=
cleanup() {
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true # it kills the process groups it started
    wait "$bench_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  if [ -n "$work" ]; then
    if [ -n "$keep" ]; then echo "$script: kept $work" >&2; else rm -rf "$work"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# take_args [--keep] -- ARGS...: $parent is the directory of --dir DIR or
# --dir=DIR (default /var/tmp: a disk, not tmpfs), $keep is 1 after --keep
# (only if take_args got --keep itself), and the array args holds the other
# arguments, in order, for the bench.
take_args() {
  local own_keep=
  if [ "$1" = --keep ]; then own_keep=1; shift; fi
  shift # --
  parent=/var/tmp
  args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) parent=${2:?--dir needs a directory}; shift 2 ;;
      --dir=*) parent=${1#--dir=}; shift ;;
      --keep) if [ -n "$own_keep" ]; then keep=1; else args+=("$1"); fi; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
}

# build_ferryd: $ferryd is $FERRYD, or else a ferryd built from this tree.
build_ferryd() {
  ferryd=${FERRYD:-}
  if [ -z "$ferryd" ]; then
    go build -o "$tmp/ferryd" ./cmd/ferryd
    ferryd=$tmp/ferryd
  fi
}

# find_rsyslogd: $rsyslogd is $RSYSLOGD (default /usr/sbin/rsyslogd); empty
# (no rsyslog) if RSYSLOGD is set empty or names no executable.
find_rsyslogd() {
  rsyslogd=${RSYSLOGD-/usr/sbin/rsyslogd}
  if [ -n "$rsyslogd" ] && [ ! -x "$rsyslogd" ]; then
    echo "$script: $rsyslogd not found; running without rsyslog (RSYSLOGD= to say so)" >&2
    rsyslogd=
  fi
}

# make_work NAME: $work is a new directory $parent/ferry-NAME.XXXXXX.
make_work() {
  mkdir -p "$parent"
  work=$(mktemp -d "$parent/ferry-$1.XXXXXX")
  echo "$script: working in $work (file system: $(stat -f -c %T "$work"))" >&2
}

# run_bench COMMAND ARGS...: runs the bench in the background and waits for
# it, so that a signal to this script reaches the trap at once, then exits
# with the bench's status.
run_bench() {
  "$@" &
  bench_pid=$!
  local status=0
  wait "$bench_pid" || status=$?
  bench_pid=
  exit "$status"
}
