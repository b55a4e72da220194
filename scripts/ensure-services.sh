#!/usr/bin/env bash
# Installs (from Debian's archive) and starts what nagaya needs on this machine:
# PostgreSQL with btree_gist, Redis, busybox-static for the test/quickstart image, tini (the
# static init of containers launched with `init`), chromium
# for the dashboard's browser test, and nftables, iproute2, curl and dnsmasq-base for container
# networking (the worker's bridge, nftables tables and name server, and the network tests). Run as root.
#
# Nothing is reachable without credentials, by any local user:
#   - Postgres: a role `nagaya` (LOGIN, CREATEDB: tests make throwaway databases) with a generated
#     password owns the databases nagaya and nagaya_test. pg_hba.conf loses every `trust` rule
#     (earlier versions of this script added some) and gets: `postgres` only through peer over
#     the socket (root administers with `runuser -u postgres -- psql`), everything else
#     scram-sha-256.
#   - Redis: a generated password (requirepass).
# Both URLs are written to <data dir>/secrets/{database-url,redis-url} (dir 0700, files 0600),
# where the server, the scripts, the benches and the tests read them
# (packages/server/src/deploy/service-urls.ts). An existing file's password is kept.
#
# Safe to run any number of times. Which services it works on comes from the environment, so tests
# can point it at private ones: NAGAYA_DATA_DIR (/var/lib/nagaya), PGPORT (5432), PG_SOCKET_DIR
# (/var/run/postgresql), REDIS_PORT (6379), REGISTRY_PORT (5000).
set -euo pipefail

log() { echo "[ensure-services] $*"; }
fail() { echo "[ensure-services] $*" >&2; exit 1; }

DATA_DIR=${NAGAYA_DATA_DIR:-/var/lib/nagaya}
SECRETS_DIR="$DATA_DIR/secrets"
PGHOST_TCP=127.0.0.1
PGPORT=${PGPORT:-5432}
PG_SOCKET_DIR=${PG_SOCKET_DIR:-/var/run/postgresql}
REDIS_PORT=${REDIS_PORT:-6379}
REGISTRY_PORT=${REGISTRY_PORT:-5000}
ROLE=nagaya

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

# 32 random bytes as hex: nothing in it needs escaping in a URL, SQL literal or redis config line.
new_password() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# The password in a URL file written by an earlier run (empty when there is none).
password_in() { [ -s "$1" ] && sed -n 's#^[a-z]*://[^:/@]*:\([0-9a-f]*\)@.*#\1#p' "$1" || true; }

# Writes a secret file whole (never half-written, never readable by others, even for a moment).
write_secret() {
  local tmp
  tmp=$(mktemp "$SECRETS_DIR/.tmp.XXXXXX")
  printf '%s\n' "$2" > "$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$1"
}

mkdir -p "$DATA_DIR"
install -d -m 700 "$SECRETS_DIR"
chmod 700 "$SECRETS_DIR"

# --- PostgreSQL -------------------------------------------------------------
pg_answers() { pg_isready -q -h "$PGHOST_TCP" -p "$PGPORT" 2>/dev/null; }
# As the postgres OS user over the socket (peer): how root administers the server. The SQL comes
# on stdin, never on a command line that `ps` shows to every user.
pg_admin() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PGPORT" "$@"; }

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
pg_answers || fail "PostgreSQL does not answer on $PGHOST_TCP:$PGPORT"
pg_admin -d postgres <<<'select 1' >/dev/null ||
  fail "cannot administer PostgreSQL as the postgres user over the socket in $PG_SOCKET_DIR (pg_hba.conf needs 'local all postgres peer')"

pg_password=$(password_in "$SECRETS_DIR/database-url")
[ -n "$pg_password" ] || pg_password=$(new_password)
pg_admin -d postgres <<SQL
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', '$ROLE') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') \gexec
ALTER ROLE $ROLE LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD '$pg_password';
SQL

for db in nagaya nagaya_test; do
  if [ "$(pg_admin -d postgres <<<"select 1 from pg_database where datname = '$db'")" != "1" ]; then
    log "creating database $db"
    pg_admin -d postgres <<<"create database $db owner $ROLE"
  fi
  # A database made before the role existed (by an earlier version of this script, as postgres)
  # goes to the role with everything nagaya's migrations made in it; btree_gist's own objects
  # stay with their extension.
  pg_admin -d "$db" <<SQL
ALTER DATABASE $db OWNER TO $ROLE;
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> '$ROLE'::regrole LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO $ROLE', r.o);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> '$ROLE'::regrole
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO $ROLE', r.o);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS o FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.proowner <> '$ROLE'::regrole
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO $ROLE', r.o);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS o FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND t.typowner <> '$ROLE'::regrole
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO $ROLE', r.o);
  END LOOP;
END \$\$;
SQL
done

# pg_hba.conf: every trust rule goes (whoever added it), then nagaya's block goes on top, where
# it matches first. The file as it was is kept once beside it.
hba=$(pg_admin -d postgres <<<'show hba_file')
[ -f "$hba.before-nagaya" ] || cp -p "$hba" "$hba.before-nagaya"
new_hba=$(mktemp)
{
  echo '# BEGIN nagaya (scripts/ensure-services.sh): no trust; root administers as postgres through peer'
  echo 'local   all   postgres                  peer'
  echo 'local   all   all                       scram-sha-256'
  echo 'host    all   all   127.0.0.1/32        scram-sha-256'
  echo 'host    all   all   ::1/128             scram-sha-256'
  echo '# END nagaya'
  awk '
    /^# BEGIN nagaya/ { skip = 1; next }
    /^# END nagaya/ { skip = 0; next }
    skip { next }
    !/^[[:space:]]*#/ && ($4 == "trust" || $5 == "trust" || $6 == "trust") { next }
    { print }
  ' "$hba"
} > "$new_hba"
if ! cmp -s "$new_hba" "$hba"; then
  log "pg_hba.conf: removing trust rules, password (scram-sha-256) for everyone but postgres over peer ($hba)"
  cat "$new_hba" > "$hba" # in place: the file keeps its owner and mode
  pg_admin -d postgres <<<'select pg_reload_conf()' >/dev/null
fi
rm -f "$new_hba"
[ "$(pg_admin -d postgres <<<"select count(*) from pg_hba_file_rules where error is not null or auth_method = 'trust'")" = 0 ] ||
  fail "$hba still has a trust rule or an error (see pg_hba_file_rules)"

database_url="postgres://$ROLE:$pg_password@$PGHOST_TCP:$PGPORT/nagaya"
write_secret "$SECRETS_DIR/database-url" "$database_url"
# The reload is asynchronous: wait until the role's password works and postgres's lack of one does not.
for _ in $(seq 1 50); do
  if PGPASSWORD=$pg_password psql -X -w -h "$PGHOST_TCP" -p "$PGPORT" -U "$ROLE" -d nagaya -Atc 'select 1' >/dev/null 2>&1 &&
    ! psql -X -w -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    pg_ok=1
    break
  fi
  sleep 0.2
done
[ "${pg_ok:-0}" = 1 ] || fail "PostgreSQL on $PGHOST_TCP:$PGPORT: the nagaya role cannot log in with its password, or postgres still can without one"

# --- Redis ------------------------------------------------------------------
redis_password=$(password_in "$SECRETS_DIR/redis-url")
[ -n "$redis_password" ] || redis_password=$(new_password)
# The password goes through REDISCLI_AUTH and stdin, never argv (visible to every user in ps).
redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>&1 || true; }
redis_open() { [ "$(redis_cli ping)" = "PONG" ]; }
redis_ours() { [ "$(REDISCLI_AUTH="$redis_password" redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" ping 2>&1)" = "PONG" ]; }
redis_down() { [[ "$(redis_cli ping)" == *'Connection refused'* ]]; }

command -v redis-server >/dev/null || apt_install redis-server
if redis_down; then
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p /var/lib/redis /var/log/redis
  # `-` reads the config from stdin first: the password never shows on a command line
  printf 'requirepass %s\n' "$redis_password" |
    redis-server - --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile "/var/log/redis/nagaya-$REDIS_PORT.log"
  for _ in $(seq 1 30); do redis_down || break; sleep 0.2; done
elif redis_open; then
  # Started without a password (by an earlier version of this script): set it in the running
  # server; a restart by this script passes it from the start.
  log "Redis on 127.0.0.1:$REDIS_PORT has no password: setting one"
  printf 'CONFIG SET requirepass %s\n' "$redis_password" | redis-cli -h 127.0.0.1 -p "$REDIS_PORT" >/dev/null
fi
for _ in $(seq 1 30); do redis_ours && break; sleep 0.2; done
redis_ours || fail "Redis on 127.0.0.1:$REDIS_PORT does not accept the password in $SECRETS_DIR/redis-url (it has another one: set it there, or restart Redis)"
write_secret "$SECRETS_DIR/redis-url" "redis://:$redis_password@127.0.0.1:$REDIS_PORT"

# --- Container image sources and build tools ----------------------------------
apt_install busybox-static make g++ python3 chromium

# --- tini: /usr/bin/tini-static is the init (PID 1) of a container launched with `init` --------
apt_install tini

# --- OCI images: zstd decompresses zstd layers (Node 20's zlib has none); umoci and skopeo are
# what bench:images compares an import with ------------------------------------------------
apt_install zstd umoci skopeo

# --- Container networking: nft for nagaya's tables, ip for the bridge, curl for the tests, ----
# --- dnsmasq (Debian's dnsmasq-base: the binary alone, no system service) for containers' names --
apt_install nftables iproute2 curl dnsmasq-base

# --- The fleet's image registry: Debian's docker-registry (distribution v2) on 127.0.0.1 ------
# Workers pull by digest from it the images a node lacks (an import is pushed there). htpasswd
# (bcrypt) guards it; its URL with the credentials goes to <data dir>/secrets/registry-url.
# openssl: the registry tests' token service signs with a key it makes.
apt_install docker-registry apache2-utils openssl
REGISTRY_DIR="$DATA_DIR/registry"
install -d -m 700 "$REGISTRY_DIR"
registry_password=$(password_in "$SECRETS_DIR/registry-url")
[ -n "$registry_password" ] || registry_password=$(new_password)
htpasswd -Bbc "$REGISTRY_DIR/htpasswd" nagaya "$registry_password" 2>/dev/null
cat > "$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
auth:
  htpasswd:
    realm: nagaya
    path: $REGISTRY_DIR/htpasswd
YAML
registry_status() { curl -s -o /dev/null -w '%{http_code}' -u "nagaya:$registry_password" "http://127.0.0.1:$REGISTRY_PORT/v2/" 2>/dev/null || true; }
if [ "$(registry_status)" = 000 ]; then
  log "starting the image registry on 127.0.0.1:$REGISTRY_PORT"
  setsid docker-registry serve "$REGISTRY_DIR/config.yml" </dev/null >>/var/log/nagaya-registry.log 2>&1 &
  echo $! > "$REGISTRY_DIR/registry.pid"
  for _ in $(seq 1 50); do [ "$(registry_status)" = 000 ] || break; sleep 0.1; done
else
  # a registry that runs already reads the htpasswd file again as it changes
  sleep 0.1
fi
[ "$(registry_status)" = 200 ] || fail "the registry on 127.0.0.1:$REGISTRY_PORT does not accept the credentials in $SECRETS_DIR/registry-url (another registry on that port? set REGISTRY_PORT)"
write_secret "$SECRETS_DIR/registry-url" "http://nagaya:$registry_password@127.0.0.1:$REGISTRY_PORT"

log "ready: PostgreSQL on $PGHOST_TCP:$PGPORT (role $ROLE), Redis on 127.0.0.1:$REDIS_PORT, the image registry on 127.0.0.1:$REGISTRY_PORT; credentials in $SECRETS_DIR"
