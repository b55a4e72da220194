# Sourced by up.sh and down.sh: where the service's pid and unit live, how to tell and stop it,
# and how up writes nagaya.service and the environment file it reads.
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

# Writes the settings up was run with to <data dir>/secrets/service.env for systemd, and names it
# in SERVICE_ENV_FILE: the admin token and any DATABASE_URL or REDIS_URL are secrets, so they go
# in a root-only file (0600 in a 0700 directory), never on a command line or in the unit.
write_service_env() {
  local env_file="$NAGAYA_DATA_DIR/secrets/service.env" name value
  mkdir -p "$NAGAYA_DATA_DIR/secrets"
  chmod 700 "$NAGAYA_DATA_DIR/secrets"
  (
    umask 077
    : >"$env_file.tmp"
    for name in $(compgen -e | grep -E '^(NAGAYA_[A-Z0-9_]+|PORT|DATABASE_URL|REDIS_URL|NODE_EXTRA_CA_CERTS|PATH)$'); do
      case "$name" in NAGAYA_UP_BUILD | NAGAYA_LOG_FILE | NAGAYA_BIN_DIR | NAGAYA_SYSTEMD | NAGAYA_SYSTEMD_UNIT_DIR) continue ;; esac
      value=${!name}
      if [[ "$value" == *"'"* || "$value" == *$'\n'* || "$value" == *'\'* ]]; then
        echo "[up] $name has a quote, backslash or newline, which a systemd environment file cannot carry as it is" >&2
        rm -f "$env_file.tmp"
        exit 1
      fi
      printf "%s='%s'\n" "$name" "$value" >>"$env_file.tmp"
    done
    chmod 600 "$env_file.tmp"
    mv "$env_file.tmp" "$env_file"
  ) || return 1
  SERVICE_ENV_FILE=$env_file
}

# Writes nagaya.service for the checkout $1, its log file $2 and its environment file $3.
# KillMode=process: a stop ends `nagaya serve`
# alone, not the launcher and the containers in the unit's cgroup, so the next start re-adopts
# them (containerd's unit does the same). Delegate=yes: the launcher makes a cgroup per container
# beneath its own. TasksMax=infinity: the containers' processes count in the unit's cgroup.
write_unit() {
  local repo=$1 log_file=$2 env_file=$3
  mkdir -p "$(dirname "$UNIT_FILE")"
  cat >"$UNIT_FILE.tmp" <<UNIT
# Written by \`npm run up\` from $repo (scripts/up.sh); \`npm run down\` stops it.
[Unit]
Description=nagaya: API, worker and dashboard (nagaya serve)
Documentation=file://$repo/README.md
After=network-online.target postgresql.service redis-server.service
Wants=network-online.target

[Service]
Type=simple
WorkingDirectory=$repo
EnvironmentFile=$env_file
ExecStart="$(command -v node)" "$repo/packages/server/dist/cli/nagaya.js" serve
StandardOutput=append:$log_file
StandardError=inherit
KillMode=process
Delegate=yes
TasksMax=infinity
LimitNOFILE=1048576
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
  mv "$UNIT_FILE.tmp" "$UNIT_FILE"
}
