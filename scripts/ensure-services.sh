#!/usr/bin/env bash
# Installs (from Debian's archive) and starts what nagaya needs on this machine:
# PostgreSQL with btree_gist, Redis, busybox-static for the test/quickstart image, and chromium
# for the dashboard's browser test.
# Safe to run any number of times; it only acts on what is missing or stopped.
set -euo pipefail

log() { echo "[ensure-services] $*"; }

PGHOST_TCP=127.0.0.1
PGPORT=${PGPORT:-5432}

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pg_answers() { pg_isready -q -h "$PGHOST_TCP" -p "$PGPORT" 2>/dev/null; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

# --- PostgreSQL -------------------------------------------------------------
if ! command -v pg_isready >/dev/null || ! pg_answers; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  if ! pg_answers; then
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  fi
fi
pg_answers || { log "PostgreSQL does not answer on $PGHOST_TCP:$PGPORT"; exit 1; }

# A plain Debian install asks for a password over TCP; nagaya's default DATABASE_URL uses
# TCP as user postgres without one. On such a machine, trust loopback (a dev/CI machine only).
if ! psql -w -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  hba=$(su postgres -c "psql -Atc 'show hba_file'")
  log "trusting loopback connections in $hba"
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
  sleep 1
fi

for db in nagaya nagaya_test; do
  if [ "$(psql -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres -Atc "select 1 from pg_database where datname='$db'")" != "1" ]; then
    log "creating database $db"
    psql -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres -qc "create database $db" || true
  fi
done

# --- Redis ------------------------------------------------------------------
if ! command -v redis-cli >/dev/null || ! redis_answers; then
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis_answers; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/nagaya.log
    for _ in $(seq 1 30); do redis_answers && break; sleep 0.5; done
  fi
fi
redis_answers || { log "Redis does not answer on 127.0.0.1:6379"; exit 1; }

# --- Container image sources and build tools ----------------------------------
apt_install busybox-static make g++ python3 chromium

log "ready: PostgreSQL on $PGHOST_TCP:$PGPORT, Redis on 127.0.0.1:6379"
