#!/usr/bin/env bash
# `npm run up`: brings nagaya up on this machine (as root): Postgres, Redis and busybox from
# Debian's archive (with credentials: see ensure-services.sh), dependencies, build, schema, the
# default ID pool and the busybox image, then `nagaya serve` (API + worker + dashboard) in the
# background, on 127.0.0.1 unless NAGAYA_LISTEN says otherwise, over HTTPS when NAGAYA_TLS_CERT
# and NAGAYA_TLS_KEY are set. Where systemd is PID 1, nagaya runs as nagaya.service (a unit this
# script writes, enables and restarts); elsewhere as a background process with a pid file. The
# `nagaya` command goes on the PATH as a symlink in NAGAYA_BIN_DIR (/usr/local/bin). Safe to run
# again: a running nagaya is restarted (its containers keep running and are re-adopted).
# `npm run down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)

export NAGAYA_DATA_DIR=${NAGAYA_DATA_DIR:-/var/lib/nagaya}
export PORT=${PORT:-8080}
LOG_FILE=${NAGAYA_LOG_FILE:-/var/log/nagaya.log}
TOKEN_FILE="$NAGAYA_DATA_DIR/admin-token"
BIN_DIR=${NAGAYA_BIN_DIR:-/usr/local/bin}
source scripts/service-lib.sh

bash scripts/ensure-services.sh
# NAGAYA_UP_BUILD=0 uses the tree as it is built (e2e tests: a rebuild of packages/native would
# pull the addon from under every other test running at the same time).
if [ "${NAGAYA_UP_BUILD:-1}" != 0 ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
  npm run build
fi
npm run --silent migrate

mkdir -p "$NAGAYA_DATA_DIR"
chmod 711 "$NAGAYA_DATA_DIR"
# the log shows container names, commands and errors: root's and its group's, not every user's
touch "$LOG_FILE"
chmod 640 "$LOG_FILE"
if [ -z "${NAGAYA_ADMIN_TOKEN:-}" ]; then
  if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077 && node -e 'process.stdout.write("ngy_" + require("crypto").randomBytes(32).toString("base64url"))' > "$TOKEN_FILE")
  fi
  NAGAYA_ADMIN_TOKEN=$(cat "$TOKEN_FILE")
  export NAGAYA_ADMIN_TOKEN
fi

# `nagaya` on the PATH: a symlink to the committed wrapper, which runs the built CLI. A file there
# that is not a symlink is someone else's, and stays.
BIN_LINK="$BIN_DIR/nagaya"
BIN_TARGET="$REPO/packages/server/bin/nagaya.js"
if [ -e "$BIN_LINK" ] && [ ! -L "$BIN_LINK" ]; then
  BIN_NOTE="$BIN_LINK is not ours (not a symlink) and stays: run $BIN_TARGET"
else
  mkdir -p "$BIN_DIR"
  ln -sfn "$BIN_TARGET" "$BIN_LINK"
  BIN_NOTE="$BIN_LINK -> $BIN_TARGET"
  case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) BIN_NOTE="$BIN_NOTE ($BIN_DIR is not on this PATH)" ;;
  esac
fi

if systemd_in_charge; then
  if pid=$(serve_pid) && [ "$(systemctl show -p MainPID --value "$UNIT" 2>/dev/null)" != "$pid" ]; then
    echo "[up] stopping nagaya (pid $pid), started without systemd: $UNIT takes over"
    stop_serve
  fi
  write_service_env
  write_unit "$REPO" "$LOG_FILE" "$SERVICE_ENV_FILE"
  systemctl daemon-reload
  systemctl enable --quiet "$UNIT"
  if systemctl is-active --quiet "$UNIT"; then
    echo "[up] restarting nagaya (pid $(systemctl show -p MainPID --value "$UNIT"), $UNIT)"
  fi
  systemctl restart "$UNIT"
  systemctl show -p MainPID --value "$UNIT" >"$PID_FILE"
  RUNS_AS="$UNIT, enabled at boot; systemctl status $UNIT"
  # systemd restarts a nagaya that exits (a new pid), so whether the unit is active is what counts
  running() { [ "$(systemctl show -p ActiveState --value "$UNIT")" = active ]; }
  SEE="$LOG_FILE and journalctl -u $UNIT"
else
  if pid=$(serve_pid); then
    echo "[up] restarting nagaya (pid $pid)"
    stop_serve
  fi
  nohup node packages/server/dist/cli/nagaya.js serve >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  RUNS_AS="a background process; its pid in $PID_FILE"
  running() { kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }
  SEE=$LOG_FILE
fi

SCHEME=http
[ -n "${NAGAYA_TLS_CERT:-}" ] && SCHEME=https
LISTEN=${NAGAYA_LISTEN:-127.0.0.1}
case "$LISTEN" in
  0.0.0.0) HOST=127.0.0.1 ;;
  ::) HOST='[::1]' ;;
  *:*) HOST="[$LISTEN]" ;;
  *) HOST=$LISTEN ;;
esac
URL="$SCHEME://$HOST:$PORT"
# Only whether our own child answers: its certificate may name another host than the address
# it is reached at here, so it is not checked (clients check it).
healthy() {
  node -e 'const u = new URL(process.argv[1]);
    require(u.protocol.slice(0, -1)).get(u, { rejectUnauthorized: false, timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1))
      .on("error", () => process.exit(1)).on("timeout", () => process.exit(1));' "$URL/healthz"
}
for _ in $(seq 1 100); do
  healthy && break
  if ! running; then echo "[up] nagaya exited; see $SEE"; tail -20 "$LOG_FILE"; exit 1; fi
  sleep 0.2
done
healthy || { echo "[up] nagaya does not answer; see $SEE"; exit 1; }

cat <<MSG

nagaya is up (pid $(cat "$PID_FILE"), log $LOG_FILE)
  runs as:            $RUNS_AS
  dashboard and API:  $URL/   (REST under /api/v1)
  admin token:        cat $TOKEN_FILE   (or the NAGAYA_ADMIN_TOKEN you set)
  nagaya on the PATH: $BIN_NOTE
  CLI:                export NAGAYA_URL=$URL NAGAYA_TOKEN=\$(cat $TOKEN_FILE)
                      nagaya launch web1 --wait
  stop:               npm run down (or nagaya down); containers keep running, up re-adopts them
MSG
if [ "$SCHEME" = https ]; then
  echo "  a self-signed certificate: also export NODE_EXTRA_CA_CERTS=$NAGAYA_TLS_CERT"
fi
npx tsx scripts/pool-report.ts
