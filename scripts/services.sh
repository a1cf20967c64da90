#!/usr/bin/env bash
# Local PostgreSQL and Redis for the production profile (endpoints.prod.yml), and nginx.
#
# Runs this project's own instances, independent of any system-wide service:
#   PostgreSQL  cluster in build/services/postgres/data, TCP on 127.0.0.1:$DB_PORT (5433);
#               as root, in /var/tmp/nightcramps-postgres-<hash>/data instead (see pg_home)
#   Redis       in build/services/redis, TCP on 127.0.0.1:$REDIS_PORT (6380), no persistence
#   nginx       installed only: tools/proxy.py runs the project's own instance in front of the
#               Rasa replicas (config, pid and logs in build/proxy*, an unprivileged port)
#
# Usage: bash scripts/services.sh install|start|stop|status|restart-postgres [fast|immediate]|env
#
#   install           apt-get install postgresql redis-server nginx-light, only if missing
#                     (root or sudo)
#   start             initialise on first use, start both, wait until both accept connections;
#                     already running is fine
#   stop              stop both (no-op if stopped)
#   status            say what runs; exit 0 only if both run
#   restart-postgres  restart PostgreSQL only (fault tests); mode fast (default) or immediate
#   env               print the variables endpoints.prod.yml needs, as `export` lines:
#                       eval "$(bash scripts/services.sh env)"
#
# Settings (environment variables, read on `start` and then remembered in
# build/services/settings.env, mode 600): DB_PORT DB_NAME DB_USER DB_PASSWORD REDIS_PORT
# REDIS_PASSWORD. Passwords are generated on first start unless given. SERVICES_DIR moves the
# whole thing (default build/services); as root, PG_PARENT moves PostgreSQL's folder (default
# /var/tmp). `make clean` deletes build/: stop first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_DIR="${SERVICES_DIR:-$ROOT/build/services}"
SETTINGS="$SERVICES_DIR/settings.env"

# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` OS user,
# which must be able to reach its folder: inside a clone whose parent folders it cannot enter
# (a clone in /root, mode 700) it could not. So as root a new cluster goes to a folder of its
# own outside the clone, named after a hash of SERVICES_DIR's path (one per clone and per
# SERVICES_DIR), owned by postgres, mode 700. A cluster already in SERVICES_DIR stays there.
pg_home() {
  local in_tree="$SERVICES_DIR/postgres" hash
  if [ "$(id -u)" -ne 0 ] || [ -f "$in_tree/data/PG_VERSION" ]; then
    echo "$in_tree"
    return
  fi
  hash="$(realpath -m "$SERVICES_DIR" | sha256sum | cut -c1-16)"
  echo "${PG_PARENT:-/var/tmp}/nightcramps-postgres-$hash"
}
PG_DIR="$(pg_home)"
PGDATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"          # the Unix socket (admin only; peer auth)
PG_LOG="$PG_DIR/postgres.log"
REDIS_DIR="$SERVICES_DIR/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
START_TIMEOUT=60              # seconds each service gets to accept connections

say() { echo "services: $*"; }
die() { echo "services: error: $*" >&2; exit 1; }

# --- settings ---------------------------------------------------------------------------

random_secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

load_settings() {
  # Explicit environment first, then the remembered settings, then defaults.
  local saved_db_port="" saved_db_name="" saved_db_user="" saved_db_password=""
  local saved_redis_port="" saved_redis_password="" key value
  if [ -r "$SETTINGS" ]; then
    while IFS='=' read -r key value; do
      case "$key" in
        DB_PORT) saved_db_port="$value" ;;
        DB_NAME) saved_db_name="$value" ;;
        DB_USER) saved_db_user="$value" ;;
        DB_PASSWORD) saved_db_password="$value" ;;
        REDIS_PORT) saved_redis_port="$value" ;;
        REDIS_PASSWORD) saved_redis_password="$value" ;;
      esac
    done <"$SETTINGS"
  fi
  DB_PORT="${DB_PORT:-${saved_db_port:-5433}}"
  DB_NAME="${DB_NAME:-${saved_db_name:-nightcramps}}"
  DB_USER="${DB_USER:-${saved_db_user:-nightcramps}}"
  DB_PASSWORD="${DB_PASSWORD:-${saved_db_password:-}}"
  REDIS_PORT="${REDIS_PORT:-${saved_redis_port:-6380}}"
  REDIS_PASSWORD="${REDIS_PASSWORD:-${saved_redis_password:-}}"
  [[ "$DB_PORT" =~ ^[0-9]+$ ]] || die "DB_PORT must be a number, got '$DB_PORT'"
  [[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || die "REDIS_PORT must be a number, got '$REDIS_PORT'"
  [[ "$DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "DB_NAME must be a plain identifier"
  [[ "$DB_USER" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "DB_USER must be a plain identifier"
  # Passwords end up in URLs and config files: keep them to URL-safe characters.
  [[ "$DB_PASSWORD" =~ ^[A-Za-z0-9._~-]*$ ]] || die "DB_PASSWORD: use only A-Z a-z 0-9 . _ ~ -"
  [[ "$REDIS_PASSWORD" =~ ^[A-Za-z0-9._~-]*$ ]] || die "REDIS_PASSWORD: use only A-Z a-z 0-9 . _ ~ -"
}

save_settings() {
  [ -n "$DB_PASSWORD" ] || DB_PASSWORD="$(random_secret)"
  [ -n "$REDIS_PASSWORD" ] || REDIS_PASSWORD="$(random_secret)"
  mkdir -p "$SERVICES_DIR"
  chmod 755 "$SERVICES_DIR"
  (umask 077; cat >"$SETTINGS.tmp" <<EOF
# Written by scripts/services.sh start; the local services' settings and secrets.
DB_PORT=$DB_PORT
DB_NAME=$DB_NAME
DB_USER=$DB_USER
DB_PASSWORD=$DB_PASSWORD
REDIS_PORT=$REDIS_PORT
REDIS_PASSWORD=$REDIS_PASSWORD
EOF
  )
  mv "$SETTINGS.tmp" "$SETTINGS"
}

# --- binaries ---------------------------------------------------------------------------

pg_bindir() {
  # The newest installed server version: /usr/lib/postgresql/<version>/bin/initdb.
  local dir
  # shellcheck disable=SC2012  # version numbers need sort -V; the paths are Debian's own
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
  fi
}

missing_packages() {
  local missing=()
  [ -n "$(pg_bindir)" ] && command -v psql >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  echo "${missing[*]}"
}

require_installed() {
  local missing
  missing="$(missing_packages)"
  [ -z "$missing" ] || die "not installed: $missing. Run: bash scripts/services.sh install"
  PG_BIN="$(pg_bindir)"
}

# nginx is in /usr/sbin, which an unprivileged user's PATH may lack.
nginx_bin() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

# Debian's nginx-light (the proxy needs only the core, proxy, upstream and map modules).
# Its package may start the system-wide nginx on port 80, as the postgresql and redis-server
# packages start theirs: the project's instance is independent of it and never uses /etc/nginx.
install_nginx() {
  if [ -n "$(nginx_bin)" ]; then
    say "nginx is already installed ($(nginx_bin))"
    return 0
  fi
  bash "$ROOT/scripts/install_system_packages.sh" nginx-light
  [ -n "$(nginx_bin)" ] || die "nginx is still missing after installing nginx-light"
  say "installed nginx-light; tools/proxy.py runs the project's own instance"
}

cmd_install() {
  install_data_services
  install_nginx
}

install_data_services() {
  local missing
  missing="$(missing_packages)"
  if [ -z "$missing" ]; then
    say "postgresql and redis-server are already installed"
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "installing $missing needs root or sudo"
    sudo="sudo"
  fi
  say "installing Debian packages: $missing"
  # shellcheck disable=SC2086
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
  missing="$(missing_packages)"
  [ -z "$missing" ] || die "still missing after apt-get install: $missing"
  say "installed; the project's instances are independent of the system services the" \
      "packages may have started (ports 5432/6379)"
}

# --- PostgreSQL -------------------------------------------------------------------------

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

pg_superuser() {
  if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

pg_running() {
  [ -f "$PGDATA/PG_VERSION" ] && as_pg_owner "$PG_BIN/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1
}

pg_accepting() {
  as_pg_owner "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$DB_PORT" -t 2 >/dev/null 2>&1
}

conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

pg_init() {
  if [ "${#PG_RUN}" -gt 90 ]; then
    die "the socket folder path '$PG_RUN' is too long for a Unix socket; set SERVICES_DIR"
  fi
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "the 'postgres' OS user is missing (install postgresql)"
    pg_make_home
    mkdir -p "$PG_RUN"
    chown postgres:postgres "$PG_DIR" "$PG_RUN"
    runuser -u postgres -- test -x "$PG_DIR" \
      || die "the postgres OS user cannot reach $PG_DIR (check the parent folders' permissions)"
  else
    mkdir -p "$PG_DIR" "$PG_RUN"
  fi
  chmod 700 "$PG_DIR"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $PGDATA"
    as_pg_owner "$PG_BIN/initdb" -D "$PGDATA" --no-locale -E UTF8 \
      --auth-local=peer --auth-host=scram-sha-256 >"$SERVICES_DIR/initdb.log" 2>&1 \
      || { cat "$SERVICES_DIR/initdb.log" >&2; die "initdb failed"; }
    as_pg_owner sh -c "echo \"include_if_exists = 'project.conf'\" >> '$PGDATA/postgresql.conf'"
  fi
  # Rewritten on every start, so port changes apply; loopback only.
  local conf
  conf="listen_addresses = '127.0.0.1'
port = $DB_PORT
unix_socket_directories = $(conf_quote "$PG_RUN")
password_encryption = 'scram-sha-256'
max_connections = 200
"
  as_pg_owner sh -c "cat > '$PGDATA/project.conf'" <<<"$conf"
}

# As root: creates PG_DIR (mode 700) if missing. It may be in a folder anyone can write to
# (/var/tmp): refuse a symlink, or a folder of another user, planted there.
pg_make_home() {
  if [ -L "$PG_DIR" ] || { [ -e "$PG_DIR" ] && [ ! -d "$PG_DIR" ]; }; then
    die "$PG_DIR is not a folder (a symlink?): remove it"
  fi
  if [ ! -d "$PG_DIR" ]; then
    mkdir -p "$(dirname "$PG_DIR")"
    mkdir -m 700 "$PG_DIR" || die "could not create $PG_DIR"
    say "PostgreSQL's folder: $PG_DIR"
  fi
  local owner
  owner="$(stat -c %U "$PG_DIR")"
  [ "$owner" = postgres ] || [ "$owner" = root ] \
    || die "$PG_DIR belongs to '$owner', not postgres: remove it"
}

pg_wait() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until pg_accepting; do
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$PG_LOG" >&2 || true; die "PostgreSQL did not accept connections on 127.0.0.1:$DB_PORT within ${START_TIMEOUT}s (log: $PG_LOG)"; }
    sleep 0.5
  done
}

pg_start() {
  pg_init
  if pg_running; then
    local running_port
    running_port="$(sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || true)"
    if [ -n "$running_port" ] && [ "$running_port" != "$DB_PORT" ]; then
      die "PostgreSQL already runs on port $running_port, not $DB_PORT: stop, then start"
    fi
    say "PostgreSQL already running ($PGDATA)"
  else
    say "starting PostgreSQL on 127.0.0.1:$DB_PORT"
    as_pg_owner "$PG_BIN/pg_ctl" start -D "$PGDATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" \
      >/dev/null || { tail -n 20 "$PG_LOG" >&2 || true; die "PostgreSQL did not start (log: $PG_LOG; is port $DB_PORT free?)"; }
  fi
  pg_wait
  pg_provision
}

pg_provision() {
  # The assistant's role (password auth over TCP) and database; idempotent. CREATEDB lets
  # the tests make a fresh database per run.
  as_pg_owner "$PG_BIN/psql" -q -X -h "$PG_RUN" -p "$DB_PORT" -U "$(pg_superuser)" -d postgres \
    -v ON_ERROR_STOP=1 -v user="$DB_USER" -v pw="$DB_PASSWORD" -v db="$DB_NAME" -f - \
    >/dev/null <<'SQL' || die "could not create the role and database"
SELECT format('CREATE ROLE %I LOGIN', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN CREATEDB PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

pg_stop() {
  if pg_running; then
    say "stopping PostgreSQL"
    as_pg_owner "$PG_BIN/pg_ctl" stop -D "$PGDATA" -m fast -w -t "$START_TIMEOUT" >/dev/null \
      || die "PostgreSQL did not stop within ${START_TIMEOUT}s"
  else
    say "PostgreSQL is not running"
  fi
}

cmd_restart_postgres() {
  local mode="${1:-fast}"
  [[ "$mode" == fast || "$mode" == immediate ]] || die "restart-postgres mode: fast or immediate"
  require_installed
  load_settings
  [ -f "$SETTINGS" ] || die "never started: run bash scripts/services.sh start"
  pg_running || die "PostgreSQL is not running: run bash scripts/services.sh start"
  pg_init
  say "restarting PostgreSQL (-m $mode)"
  as_pg_owner "$PG_BIN/pg_ctl" restart -D "$PGDATA" -l "$PG_LOG" -m "$mode" -w \
    -t "$START_TIMEOUT" >/dev/null || die "PostgreSQL did not restart (log: $PG_LOG)"
  pg_wait
  say "PostgreSQL is back on 127.0.0.1:$DB_PORT"
}

# --- Redis ------------------------------------------------------------------------------

redis_pid() {
  local pid
  [ -f "$REDIS_PID" ] || return 1
  pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

redis_ping() {
  [ "$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" \
      ping 2>/dev/null || true)" = PONG ]
}

redis_start() {
  mkdir -p "$REDIS_DIR"
  chmod 700 "$REDIS_DIR"
  if redis_pid >/dev/null; then
    say "Redis already running (pid $(redis_pid))"
  else
    rm -f "$REDIS_PID"
    # Locks only: nothing worth persisting, so no RDB snapshots and no AOF.
    (umask 077; cat >"$REDIS_CONF" <<EOF
# Written by scripts/services.sh start.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass $REDIS_PASSWORD
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
dir $REDIS_DIR
save ""
appendonly no
EOF
    )
    say "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server "$REDIS_CONF" || { tail -n 20 "$REDIS_LOG" >&2 || true; die "Redis did not start (log: $REDIS_LOG)"; }
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until redis_ping; do
    # The pid file appears only once the daemon has forked, so a missing one is
    # not yet a failure; a pid file whose process is gone is.
    if [ "$SECONDS" -ge "$deadline" ] || { [ -f "$REDIS_PID" ] && ! redis_pid >/dev/null; }; then
      tail -n 20 "$REDIS_LOG" >&2 || true
      die "Redis did not answer on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG; is the port free?)"
    fi
    sleep 0.5
  done
}

redis_stop() {
  local pid
  if ! pid="$(redis_pid)"; then
    say "Redis is not running"
    rm -f "$REDIS_PID"
    return 0
  fi
  say "stopping Redis (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "Redis did not stop within 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$REDIS_PID"
}

# --- commands ---------------------------------------------------------------------------

cmd_start() {
  require_installed
  load_settings
  save_settings
  pg_start
  redis_start
  say "ready: PostgreSQL 127.0.0.1:$DB_PORT (database $DB_NAME, user $DB_USER)," \
      "Redis 127.0.0.1:$REDIS_PORT. Variables: bash scripts/services.sh env"
}

cmd_stop() {
  if [ -z "$(pg_bindir)" ]; then
    say "PostgreSQL is not installed"
  else
    PG_BIN="$(pg_bindir)"
    pg_stop
  fi
  redis_stop
}

cmd_status() {
  local ok=0
  load_settings
  if [ -n "$(pg_bindir)" ] && PG_BIN="$(pg_bindir)" && pg_running; then
    if pg_accepting; then
      say "PostgreSQL: running, accepting connections on 127.0.0.1:$DB_PORT (data: $PGDATA)"
    else
      say "PostgreSQL: running, NOT accepting connections on 127.0.0.1:$DB_PORT"; ok=1
    fi
  else
    say "PostgreSQL: stopped"; ok=1
  fi
  if command -v redis-cli >/dev/null && redis_pid >/dev/null; then
    if redis_ping; then
      say "Redis: running (pid $(redis_pid)), answering on 127.0.0.1:$REDIS_PORT"
    else
      say "Redis: running (pid $(redis_pid)), NOT answering on 127.0.0.1:$REDIS_PORT"; ok=1
    fi
  else
    say "Redis: stopped"; ok=1
  fi
  return "$ok"
}

cmd_env() {
  [ -r "$SETTINGS" ] || die "no settings yet: run bash scripts/services.sh start"
  load_settings
  cat <<EOF
export DB_HOST=127.0.0.1
export DB_PORT=$DB_PORT
export DB_NAME=$DB_NAME
export DB_USER=$DB_USER
export DB_PASSWORD=$DB_PASSWORD
export REDIS_HOST=127.0.0.1
export REDIS_PORT=$REDIS_PORT
export REDIS_PASSWORD=$REDIS_PASSWORD
export REDIS_DB=1
export ACTION_SERVER_URL=${ACTION_SERVER_URL:-http://127.0.0.1:5055/webhook}
EOF
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart-postgres) shift; cmd_restart_postgres "$@" ;;
  env) cmd_env ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
