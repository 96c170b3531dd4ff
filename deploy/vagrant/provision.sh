#!/usr/bin/env bash
# Provisions one node of the Vagrant lab (deploy/vagrant/Vagrantfile), in steps:
#
#   provision.sh install   Debian packages (nftables, iproute2, etcd-server, etcd-client,
#                          curl), Node 20 (NodeSource's apt repository) unless a Node 20+
#                          is there, swarmnet built in the synced checkout (npm ci, build:
#                          each only when out of date), the `swarmnet` command and the
#                          systemd units swarmnet-etcd, swarmnet-manager, swarmnet-agent
#   provision.sh manager   the first node: its config under /etc/swarmnet, etcd, the
#                          manager and the agent started, `swarm init` once, the worker
#                          join token written to the shared folder
#   provision.sh join      every other node: its config, the agent started, `swarm join`
#                          once with the token from the shared folder (waited for)
#
# Every step is idempotent: run again it changes nothing that is already right (files
# are rewritten only when their content differs, a service is restarted only when its
# config changed, a formed cluster is never initialised or joined again).
#
# Environment (the Vagrantfile passes it; the VM lab's test passes its own):
#   SWARMNET_ADDR          this node's private address (required for manager/join): the
#                          address every process advertises and listens on. Vagrant's
#                          first NIC is NAT with the same address on every VM, so nothing
#                          may pick "the first address" by itself.
#   SWARMNET_MANAGER_ADDR  the first node's private address (join)
#   SWARMNET_NODE          the node's name (default: the hostname)
#   SWARMNET_SRC           the swarmnet checkout (default /vagrant, the synced folder)
#   SWARMNET_SHARED        a folder every node sees, for the join token
#                          (default $SWARMNET_SRC/deploy/vagrant/.cluster)
#   SWARMNET_JOIN_WAIT     seconds `join` waits for the token, and a node for its
#                          dispatcher stream (default 600)
#   SWARMNET_MANAGER_FLAGS, SWARMNET_AGENT_FLAGS
#                          extra flags for the manager and the agent (default none)
#
# Services: with systemd as PID 1 (a Vagrant VM) the units are enabled and started with
# systemctl. Without it (the VM lab's guests, where PID 1 is busybox init from the
# project's initramfs, deploy/vm/initramfs.ts, and where booting systemd would cost a
# minute of emulated CPU for nothing the test checks) the script runs the unit's own
# EnvironmentFile + ExecStart itself, detached, with a pid file under /run/swarmnet: the
# same command line from the same file, so the test exercises what systemd would run.
# It never touches anything outside this machine.
#
# Every process start counts (under the VM lab's emulation one costs 0.2-0.5 s): files are
# compared and checks made with bash builtins where they can be, and a second run of a
# formed node starts only what it must look at (dpkg-query, node --version, find, curl).
set -euo pipefail

STEP="${1:-}"
NODE="${SWARMNET_NODE:-$HOSTNAME}"
ADDR="${SWARMNET_ADDR:-}"
MANAGER_ADDR="${SWARMNET_MANAGER_ADDR:-}"
SRC="${SWARMNET_SRC:-/vagrant}"
[ "$SRC" = / ] || SRC=${SRC%/}
SHARED="${SWARMNET_SHARED:-$SRC/deploy/vagrant/.cluster}"
WAIT_S="${SWARMNET_JOIN_WAIT:-600}"
MANAGER_PORT=2377
ETC=/etc/swarmnet
STATE_DIR=/var/lib/swarmnet
ETCD_DATA_DIR=/var/lib/etcd/swarmnet
BIN=/usr/local/bin/swarmnet
UNIT_DIR=/etc/systemd/system
UNITS=(swarmnet-etcd.service swarmnet-manager.service swarmnet-agent.service)
# What a systemd service starts with (its default PATH, nothing else inherited), for the
# units run without systemd and for the CLI calls below.
SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN_DIR=/run/swarmnet
LOG_DIR=/var/log/swarmnet
# Docker's metrics port on loopback: the agent's swarmnet_dispatcher_sessions says 1 once
# its stream to a manager is open, which is what `node ls` shows as Ready.
AGENT_METRICS=http://127.0.0.1:9323/metrics

die() {
  echo "provision.sh: $*" >&2
  exit 1
}
say() { echo "provision.sh ($NODE): $*"; }

usage_error() {
  die "unknown step '${STEP}' (install, manager or join)"
}

check_ipv4() { # name value
  [[ "$2" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] ||
    die "$1 must be an IPv4 address, got '$2'"
  local octet
  for octet in "${BASH_REMATCH[@]:1}"; do
    [ "$octet" -le 255 ] || die "$1 must be an IPv4 address, got '$2'"
  done
}

# Bad input is refused here, before anything changes.
check_input() {
  case "$STEP" in
    install) ;;
    manager | join)
      [ -n "$ADDR" ] || die "SWARMNET_ADDR is not set (this node's private address)"
      check_ipv4 SWARMNET_ADDR "$ADDR"
      [ -n "$(ip -4 -o addr show to "$ADDR/32")" ] || die "SWARMNET_ADDR $ADDR is not an address of this machine"
      [[ "$NODE" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]] || die "SWARMNET_NODE '$NODE' is not a valid node name"
      if [ "$STEP" = join ]; then
        [ -n "$MANAGER_ADDR" ] || die "SWARMNET_MANAGER_ADDR is not set (the first node's private address)"
        check_ipv4 SWARMNET_MANAGER_ADDR "$MANAGER_ADDR"
      fi
      ;;
    *) usage_error ;;
  esac
  [[ "$WAIT_S" =~ ^[0-9]+$ ]] || die "SWARMNET_JOIN_WAIT must be a number of seconds, got '$WAIT_S'"
  # Written double-quoted into the units' EnvironmentFile, read by systemd and by sh alike.
  local flags
  for flags in SWARMNET_MANAGER_FLAGS SWARMNET_AGENT_FLAGS; do
    [[ "${!flags:-}" =~ ^[A-Za-z0-9=.,:/_\ -]*$ ]] || die "$flags may hold only flags like --name=value, got '${!flags}'"
  done
  [ "$EUID" = 0 ] || die "run as root"
}

# Writes stdin to $1 (mode $2) when its content differs; true when it changed the file.
# Compared in bash (no process when nothing changed); written whole, then renamed into place.
put_file() {
  local file=$1 mode=$2 new old=
  IFS= read -r -d '' new || true
  if [ -f "$file" ]; then
    IFS= read -r -d '' old <"$file" || true
    [ "$new" != "$old" ] || return 1
  fi
  [ -d "${file%/*}" ] || install -d -m 0755 "${file%/*}"
  (umask 077 && printf '%s' "$new" >"$file.new")
  chmod "$mode" "$file.new"
  mv -f "$file.new" "$file"
}

has_systemd() { [ -d /run/systemd/system ]; }

# ---------------------------------------------------------------- install

# The packages of "$@" not installed, into MISSING (one dpkg-query for all of them).
missing_packages() {
  local installed p
  installed=$'\n'$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)$'\n'
  MISSING=()
  for p in "$@"; do
    [[ "$installed" == *$'\n'"$p install ok installed"$'\n'* ]] || MISSING+=("$p")
  done
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_packages() {
  # Debian starts its own etcd.service on install (port 2379, its own data dir): masked
  # first, so it never starts, and swarmnet-etcd is the node's only etcd.
  if has_systemd && [ "$(systemctl is-enabled etcd.service 2>/dev/null || true)" != masked ]; then
    systemctl mask --now etcd.service >/dev/null 2>&1
  fi
  missing_packages nftables iproute2 etcd-server etcd-client curl ca-certificates
  if [ "${#MISSING[@]}" -gt 0 ]; then
    say "installing Debian packages: ${MISSING[*]}"
    apt_install "${MISSING[@]}"
  fi
}

# Node's version into NODE_VERSION ("" without Node) and its major number into NODE_MAJOR.
# `node --version` exits before Node boots its runtime: cheap even under emulation.
node_version() {
  NODE_VERSION=$(node --version 2>/dev/null) || NODE_VERSION=
  local v=${NODE_VERSION#v}
  v=${v%%.*}
  [[ "$v" =~ ^[0-9]+$ ]] && NODE_MAJOR=$v || NODE_MAJOR=0
}

install_node() {
  node_version
  if [ "$NODE_MAJOR" -ge 20 ]; then
    return 0
  fi
  # Debian 12 ships Node 18: NodeSource's signed repository for 20 (apt takes the
  # ASCII-armoured key as it is with signed-by).
  say "installing Node 20 from deb.nodesource.com"
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key -o /etc/apt/keyrings/nodesource.asc
  echo "deb [signed-by=/etc/apt/keyrings/nodesource.asc] https://deb.nodesource.com/node_20.x nodistro main" |
    put_file /etc/apt/sources.list.d/nodesource.list 0644 || true
  apt_install nodejs
  node_version
  [ "$NODE_MAJOR" -ge 20 ] || die "Node 20 was not installed (node --version: '$NODE_VERSION')"
}

# Builds swarmnet in the checkout, each part only when out of date (as deploy/install.sh
# decides for npm ci): a node that already has a current build (the VM lab's guests see
# the host's) needs no network and starts no compiler.
install_swarmnet() {
  [ -f "$SRC/package.json" ] || die "no swarmnet checkout at $SRC (set SWARMNET_SRC)"
  (
    cd "$SRC"
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      say "npm ci in $SRC"
      npm ci --no-audit --no-fund --loglevel=error
    fi
    # The bundle is the build's last step, so dist/bundle/swarmnet.js is as old as the last build.
    if [ ! -f dist/bundle/swarmnet.js ] || [ -n "$(find agent manager common cli proto deploy -newer dist/bundle/swarmnet.js \
      \( -name '*.ts' -o -name '*.proto' \) -print -quit)" ]; then
      say "building swarmnet in $SRC"
      npm run --silent build
    fi
  )
  # The command: run as root (the node's key under $STATE_DIR is root's, as Docker's
  # socket is), so `vagrant ssh n1 -c 'swarmnet node ls'` re-runs itself through the
  # vagrant user's password-less sudo; the node's config file names its state dir,
  # address and managers.
  put_file "$BIN" 0755 <<EOF || true
#!/bin/sh
# swarmnet on this node (deploy/vagrant/provision.sh install): the checkout's CLI.
[ "\$(id -u)" = 0 ] || exec sudo -n "\$0" "\$@"
export SWARMNET_CONFIG="\${SWARMNET_CONFIG:-$ETC/node.json}"
exec $(command -v node) "$SRC/dist/bundle/swarmnet.js" "\$@"
EOF
}

# The units from the checkout. Only when one differs from what is installed: all of them
# verified first (from a scratch folder, under their own names), so a unit that does not
# verify is never installed, then written.
install_units() {
  local u new old stale=()
  for u in "${UNITS[@]}"; do
    IFS= read -r -d '' new <"$SRC/deploy/vagrant/units/$u" || true
    old=
    [ ! -f "$UNIT_DIR/$u" ] || { IFS= read -r -d '' old <"$UNIT_DIR/$u" || true; }
    [ "$new" = "$old" ] || stale+=("$u")
  done
  [ "${#stale[@]}" -gt 0 ] || return 0
  if command -v systemd-analyze >/dev/null; then
    local scratch verified=yes
    scratch=$(mktemp -d)
    cp "${UNITS[@]/#/$SRC/deploy/vagrant/units/}" "$scratch/"
    systemd-analyze verify --man=no "${UNITS[@]/#/$scratch/}" >/dev/null || verified=no
    rm -rf "$scratch"
    [ "$verified" = yes ] || die "the units in $SRC/deploy/vagrant/units do not verify (systemd-analyze verify)"
  fi
  for u in "${stale[@]}"; do
    put_file "$UNIT_DIR/$u" 0644 <"$SRC/deploy/vagrant/units/$u" || true
  done
  if has_systemd; then systemctl daemon-reload; fi
}

# ---------------------------------------------------------------- services

# The pid of a unit started here without systemd, if it still runs.
pid_of() {
  local pid
  pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Runs a unit's EnvironmentFile= and ExecStart= here, detached (no systemd as PID 1).
# Shell word splitting of the expanded line matches systemd's for these units' values
# (no quotes, no spaces inside a value).
run_unit_here() {
  local unit=$1 file="$UNIT_DIR/$1.service" envfile='' exec='' line
  while IFS= read -r line; do
    case "$line" in
      EnvironmentFile=*) envfile=${line#EnvironmentFile=} envfile=${envfile#-} ;;
      ExecStart=*) exec=${line#ExecStart=} ;;
    esac
  done <"$file"
  [ -n "$exec" ] || die "$file has no ExecStart="
  [ -d "$RUN_DIR" ] || mkdir -p "$RUN_DIR"
  [ -d "$LOG_DIR" ] || mkdir -p "$LOG_DIR"
  # shellcheck disable=SC2016 # expanded by the inner shell, after it read the env file
  setsid env -i PATH="$SYSTEM_PATH" sh -c 'set -a; [ -z "$1" ] || . "$1"; set +a; eval "exec $2"' unit "$envfile" "$exec" \
    </dev/null >>"$LOG_DIR/$unit.log" 2>&1 &
  echo $! >"$RUN_DIR/$unit.pid"
}

# Starts a unit (restarts it when `restart` is yes and it runs), enabled at boot.
start_unit() {
  local unit=$1 restart=$2
  if has_systemd; then
    systemctl enable --quiet "$unit.service"
    if [ "$restart" = yes ]; then
      systemctl restart "$unit.service"
    else
      systemctl start "$unit.service"
    fi
    return 0
  fi
  if pid_of "$unit" >/dev/null; then
    [ "$restart" = yes ] || return 0
    stop_unit "$unit"
  fi
  say "starting $unit"
  run_unit_here "$unit"
}

stop_unit() {
  local pid
  if has_systemd; then
    systemctl stop "$1.service"
  elif pid=$(pid_of "$1"); then
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
}

unit_running() {
  if has_systemd; then systemctl is-active --quiet "$1.service"; else pid_of "$1" >/dev/null; fi
}

# Polls `check` (a command) once a second for up to $WAIT_S s; dies with `what` after.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < WAIT_S; i++)); do
    if "$@"; then return 0; fi
    sleep 1
  done
  die "timed out after ${WAIT_S} s waiting for $what"
}

# The waits below end at once, with the unit's log named, when the unit stopped.
alive() { unit_running "$1" || die "$1 stopped (see its log: $(log_hint "$1"))"; }

etcd_healthy() {
  alive swarmnet-etcd
  ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=2s endpoint health >/dev/null 2>&1
}

manager_listening() {
  alive swarmnet-manager
  [ -S "$STATE_DIR/manager.sock" ]
}

stream_open() {
  alive swarmnet-agent
  local metrics
  metrics=$'\n'$(curl -fsS --max-time 5 "$AGENT_METRICS" 2>/dev/null)$'\n' || return 1
  [[ "$metrics" == *$'\n''swarmnet_dispatcher_sessions 1'$'\n'* ]]
}

log_hint() {
  if has_systemd; then echo "journalctl -u $1"; else echo "$LOG_DIR/$1.log"; fi
}

# ---------------------------------------------------------------- config

# Writes the node's config; prints "yes" when anything in it changed (services restart).
write_config() {
  local managers=$1 changed=no
  # The units' EnvironmentFile: the values their ExecStart lines name.
  put_file "$ETC/swarmnet.env" 0644 <<EOF && changed=yes
# Written by deploy/vagrant/provision.sh: the values of the swarmnet units' command lines.
SWARMNET_NODE=$NODE
SWARMNET_ADDR=$ADDR
SWARMNET_MANAGERS=$managers
SWARMNET_STATE_DIR=$STATE_DIR
SWARMNET_CONFIG=$ETC/node.json
SWARMNET_MANAGER_FLAGS="${SWARMNET_MANAGER_FLAGS:-}"
SWARMNET_AGENT_FLAGS="${SWARMNET_AGENT_FLAGS:-}"
EOF
  # The CLI's (and agent's) per-node config file, the lab's config.json fields.
  put_file "$ETC/node.json" 0644 <<EOF && changed=yes
{
  "node": "$NODE",
  "advertiseAddr": "$ADDR",
  "managers": ["$managers"],
  "stateDir": "$STATE_DIR"
}
EOF
  echo "$changed"
}

write_etcd_config() {
  # One member, on loopback: only the manager beside it talks to it.
  put_file "$ETC/etcd.env" 0644 <<EOF
# Written by deploy/vagrant/provision.sh: swarmnet-etcd's configuration.
ETCD_NAME=$NODE
ETCD_DATA_DIR=$ETCD_DATA_DIR
ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379
ETCD_LISTEN_PEER_URLS=http://127.0.0.1:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380
ETCD_INITIAL_CLUSTER=$NODE=http://127.0.0.1:2380
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=swarmnet-vagrant
ETCD_LOG_LEVEL=warn
EOF
}

joined() { [ -f "$STATE_DIR/cluster.json" ]; }

# The CLI as this node, whatever environment the provisioner runs with.
cli() { env -i PATH="$SYSTEM_PATH" HOME=/root SWARMNET_CONFIG="$ETC/node.json" "$BIN" "$@"; }

# ---------------------------------------------------------------- steps

step_install() {
  install_packages
  install_node
  install_swarmnet
  install_units
  say "installed: Node $NODE_VERSION, swarmnet in $SRC, units ${UNITS[*]}"
}

# Runs the CLI (`swarm init` or `swarm join`) until it succeeds, again while the answer
# is "cannot reach" (the manager still starting); dies on any other answer. Its output in $out.
until_answered() {
  local what=$1 i
  shift
  for ((i = 0; ; i++)); do
    if out=$(cli "$@" 2>&1); then return 0; fi
    if [ "$i" -ge 30 ] || ! [[ "${out,,}" =~ cannot\ reach|no\ manager\ reachable|quorum ]]; then
      return 1
    fi
    say "$what: ${out%%$'\n'*}; again in 2 s"
    sleep 2
  done
}

# etcd's data and the manager's KEK file gone, both restarted: a cluster store as new.
fresh_store() {
  stop_unit swarmnet-manager
  stop_unit swarmnet-etcd
  rm -rf "$ETCD_DATA_DIR" "$STATE_DIR/manager-kek.json"
  start_unit swarmnet-etcd no
  wait_for "etcd on 127.0.0.1:2379" etcd_healthy
  start_unit swarmnet-manager no
  wait_for "the manager's local socket" manager_listening
}

step_manager() {
  [ -x "$BIN" ] || die "run 'provision.sh install' first ($BIN is missing)"
  local restart etcd_restart=no out token round
  restart=$(write_config "$ADDR:$MANAGER_PORT")
  if write_etcd_config; then etcd_restart=yes; fi
  start_unit swarmnet-etcd "$etcd_restart"
  wait_for "etcd on 127.0.0.1:2379" etcd_healthy
  start_unit swarmnet-manager "$restart"
  [ -d "$SHARED" ] || install -d -m 0700 "$SHARED"
  if ! joined; then
    wait_for "the manager's local socket" manager_listening
    for ((round = 1; ; round++)); do
      say "swarm init --advertise-addr $ADDR"
      if until_answered "swarm init" swarm init --advertise-addr "$ADDR" --format json; then break; fi
      # A call that ran out of time can still have initialised the cluster: its answer,
      # with this node's certificate, is lost, and the store refuses a second init.
      # Nothing can have joined it (the tokens went nowhere), and this etcd is this
      # node's alone: it starts afresh (twice at most).
      if [ "$round" -lt 3 ] && [[ "$out" == *"already initialised"* ]] && ! joined; then
        say "swarm init: an earlier attempt initialised the store without an answer; etcd and the manager start afresh"
        fresh_store
        continue
      fi
      die "swarm init failed: ${out%%$'\n'*}"
    done
    [[ "$out" =~ \"WorkerToken\":\ *\"([^\"]+)\" ]] || die "swarm init printed no worker token"
    token=${BASH_REMATCH[1]}
    put_file "$SHARED/worker-token" 0600 <<<"$token" || true
  else
    say "already in a swarm: no init"
    if [ ! -s "$SHARED/worker-token" ]; then
      cli swarm join-token -q worker | put_file "$SHARED/worker-token" 0600 || true
    fi
  fi
  # The agent after init: it finds the node's credentials at once, and under emulation
  # (the VM lab) it does not take the CPU the manager needs to answer init in time.
  start_unit swarmnet-agent "$restart"
  wait_for "this node's dispatcher stream" stream_open
  say "manager ready; worker join token in $SHARED/worker-token"
}

step_join() {
  [ -x "$BIN" ] || die "run 'provision.sh install' first ($BIN is missing)"
  local restart out
  restart=$(write_config "$MANAGER_ADDR:$MANAGER_PORT")
  if ! joined; then
    wait_for "the join token in $SHARED/worker-token (written by the first node)" test -s "$SHARED/worker-token"
    say "swarm join $MANAGER_ADDR:$MANAGER_PORT"
    until_answered "swarm join" swarm join --token "$(<"$SHARED/worker-token")" --advertise-addr "$ADDR" \
      "$MANAGER_ADDR:$MANAGER_PORT" || die "swarm join failed: ${out%%$'\n'*}"
  else
    say "already in a swarm: no join"
  fi
  start_unit swarmnet-agent "$restart"
  wait_for "this node's dispatcher stream" stream_open
  say "joined and ready"
}

check_input
case "$STEP" in
  install) step_install ;;
  manager) step_manager ;;
  join) step_join ;;
esac
