#!/usr/bin/env bash
# `npm run down` (or `nagaya down`): stops the nagaya that `npm run up` started on this machine, the
# API, worker and dashboard of one `nagaya serve`: `systemctl stop nagaya.service` where systemd
# runs it, else SIGTERM to the pid in <data dir>/nagaya.pid. Containers keep running, and the next
# `npm run up` re-adopts them. Postgres, Redis and the registry keep running too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/service-lib.sh

stopped=
if systemd_in_charge && [ -f "$UNIT_FILE" ] && systemctl is-active --quiet "$UNIT"; then
  systemctl stop "$UNIT"
  echo "[down] nagaya stopped (systemctl stop $UNIT); its containers keep running, \`npm run up\` re-adopts them"
  echo "       $UNIT starts again at boot; \`systemctl disable $UNIT\` keeps it off"
  stopped=1
fi
# also one started without systemd (NAGAYA_SYSTEMD=off, or before the unit was installed)
if pid=$(serve_pid); then
  stop_serve
  echo "[down] nagaya stopped (pid $pid); its containers keep running, \`npm run up\` re-adopts them"
  stopped=1
fi
rm -f "$PID_FILE"
[ -n "$stopped" ] || echo "[down] nagaya is not running (no $UNIT active, no \`nagaya serve\` at the pid in $PID_FILE)"
