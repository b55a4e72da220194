#!/usr/bin/env bash
# `npm run down` (or `nagaya down`): stops the nagaya that `npm run up` started on this machine, the
# API, worker and dashboard of one `nagaya serve`: `systemctl stop nagaya.service` where systemd
# runs it, else SIGTERM to the pid in <data dir>/nagaya.pid. Containers keep running, and the next
# `npm run up` re-adopts them. Postgres, Redis and the registry keep running too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/service-lib.sh

if systemd_in_charge && [ -f "$UNIT_FILE" ]; then
  if systemctl is-active --quiet "$UNIT"; then
    systemctl stop "$UNIT"
    echo "[down] nagaya stopped (systemctl stop $UNIT); its containers keep running"
    echo "       it starts again at boot; \`systemctl disable $UNIT\` keeps it off"
  else
    echo "[down] nagaya is not running ($UNIT is $(systemctl is-active "$UNIT" || true))"
  fi
  rm -f "$PID_FILE"
  exit 0
fi

if pid=$(serve_pid); then
  stop_serve
  rm -f "$PID_FILE"
  echo "[down] nagaya stopped (pid $pid); its containers keep running, \`npm run up\` re-adopts them"
else
  echo "[down] nagaya is not running (no \`nagaya serve\` at the pid in $PID_FILE)"
fi
