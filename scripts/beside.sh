#!/usr/bin/env bash
# beside.sh runs vitals beside an application in one container, so that the
# host figures vitals shows are the application's machine's:
#
#   ENTRYPOINT ["/usr/local/bin/beside.sh"]
#   CMD ["your-app", "--its", "flags"]
#
# vitals listens on VITALS_PORT (default 9090, exported here), which wins
# over PORT, the application's; everything else it reads from the same
# environment as the application (DATABASE_URL, REDIS_URL, FLY_*), so it
# monitors and stores in the application's database, in its own schema.
# VITALS_DATABASE_URL, when set, wins over DATABASE_URL (vitals reads it
# itself, and takes SQLAlchemy's postgresql+asyncpg:// form there). Unless
# VITALS_HTTP_CHECKS is set, it times the application's GET /health on
# 127.0.0.1:$PORT. The application gets VITALS_URL (unless set), vitals'
# address on this machine, which the clients read; VITALS_INGEST_TOKEN is a
# secret both already share.
#
# A vitals command instead of an application (`beside.sh vitals migrate up`,
# as a platform's release command runs through the image's entrypoint) is
# run on its own, with the same settings, and starts no server.
#
# SIGTERM or SIGINT (the platform stopping the machine) is passed to both,
# which shut down gracefully; when the application exits, vitals is stopped
# too and the script exits with the application's status. When vitals exits
# on its own the application goes on. Needs bash 4.3 or later (wait -n).
set -u

if [ "$#" -eq 0 ]; then
  echo "usage: beside.sh APPLICATION [ARGS...]" >&2
  exit 2
fi
vitals_bin="${VITALS_BIN:-vitals}"
app_port="${PORT:-8080}"
export VITALS_PORT="${VITALS_PORT:-9090}"

# A release command (vitals migrate, token, admin, healthcheck, ...) is
# vitals itself: run it alone, so that it starts no server beside it.
if [ "$1" = "$vitals_bin" ] || [ "$(basename -- "$1")" = vitals ]; then
  case "${2:-}" in
    migrate|token|admin|healthcheck|event|demo|version|help|--help|-h)
      shift
      exec "$vitals_bin" "$@"
      ;;
  esac
fi

VITALS_HTTP_CHECKS="${VITALS_HTTP_CHECKS:-app=http://127.0.0.1:${app_port}/health}" \
  "$vitals_bin" serve &
vitals_pid=$!

# The application learns where vitals is without guessing.
export VITALS_URL="${VITALS_URL:-http://127.0.0.1:${VITALS_PORT}}"

"$@" &
app_pid=$!

signaled=0
stopping=0
# One SIGTERM each, never two: a second one may mean "stop now" to them.
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  kill -TERM "$app_pid" "$vitals_pid" 2>/dev/null
}
trap 'signaled=1; stop' TERM INT

# The first of the two to exit, or a signal, ends this wait.
wait -n
if [ "$signaled" = 0 ] && kill -0 "$app_pid" 2>/dev/null; then
  # vitals ended on its own: monitoring must never take the application
  # down with it.
  echo "beside.sh: vitals exited; the application goes on without it" >&2
  wait "$app_pid"
fi
# The application exited, or the platform is stopping the machine: both
# finish their graceful shutdowns.
stop
wait "$app_pid"
app_status=$?
wait "$vitals_pid" 2>/dev/null
# 143 is the application ended by the SIGTERM it was asked to stop with.
if [ "$signaled" = 1 ] && [ "$app_status" -eq 143 ]; then
  exit 0
fi
exit "$app_status"
