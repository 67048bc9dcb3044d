#!/usr/bin/env bash
# A throwaway sshd on 127.0.0.1 with throwaway keys, for the DVC SSH remote test.
#   source .ci/sshd.sh start   -> exports MBEGU_TEST_SSH_URL and MBEGU_TEST_SSH_DIR
#   .ci/sshd.sh stop
set -euo pipefail
DIR="${MBEGU_SSH_DIR:-/tmp/mbegu-sshd}"
SSHD=/usr/sbin/sshd
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

case "${1:-}" in
  start)
    if [ ! -x "$SSHD" ]; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null \
        || { as_root apt-get update -qq \
             && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null; }
    fi
    rm -rf "$DIR" && mkdir -p "$DIR/remote" && chmod 700 "$DIR"
    ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$DIR/client_key"
    cp "$DIR/client_key.pub" "$DIR/authorized_keys"
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cat > "$DIR/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/host_key
AuthorizedKeysFile $DIR/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $DIR/sshd.pid
Subsystem sftp internal-sftp
CONF
    as_root mkdir -p /run/sshd  # sshd refuses to start without its privilege separation dir
    "$SSHD" -f "$DIR/sshd_config" -E "$DIR/log"
    echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$DIR/host_key.pub")" > "$DIR/known_hosts"
    export MBEGU_TEST_SSH_URL="ssh://$(id -un)@127.0.0.1:$PORT$DIR/remote"
    export MBEGU_TEST_SSH_DIR="$DIR"
    echo "sshd: $MBEGU_TEST_SSH_URL"
    ;;
  stop)
    [ -f "$DIR/sshd.pid" ] && kill "$(cat "$DIR/sshd.pid")" 2>/dev/null || true
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: source .ci/sshd.sh start | .ci/sshd.sh stop" >&2
    exit 2
    ;;
esac
