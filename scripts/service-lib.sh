# Sourced by up.sh and down.sh: where the service's pid and unit live, and how to tell and stop it.
# NAGAYA_SYSTEMD=off runs nagaya as a background process even where systemd is PID 1 (the e2e
# tests do: a unit is the machine's, shared by every checkout).

NAGAYA_DATA_DIR=${NAGAYA_DATA_DIR:-/var/lib/nagaya}
PID_FILE="$NAGAYA_DATA_DIR/nagaya.pid"
UNIT=nagaya.service
UNIT_FILE="${NAGAYA_SYSTEMD_UNIT_DIR:-/etc/systemd/system}/$UNIT"

# Whether systemd runs this machine, and so runs nagaya as nagaya.service.
systemd_in_charge() {
  [ "${NAGAYA_SYSTEMD:-auto}" != off ] && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null
}

# Prints the pid in the pid file if that process is alive and is a `nagaya serve` (not an
# unrelated process that got the pid of one that has ended); fails otherwise.
serve_pid() {
  local pid
  [ -s "$PID_FILE" ] || return 1
  pid=$(cat "$PID_FILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'nagaya.js serve' || return 1
  echo "$pid"
}

# Stops the `nagaya serve` of the pid file with SIGTERM (its containers keep running), and with
# SIGKILL if it has not ended after 30 s (they keep running then too).
stop_serve() {
  local pid
  pid=$(serve_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  echo "[nagaya] pid $pid did not stop within 30 s of SIGTERM: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
