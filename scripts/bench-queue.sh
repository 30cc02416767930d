#!/usr/bin/env bash
# Queue speed, Orch and RabbitMQ side by side (issue 18). Starts a real
# `orch server` (embedded etcd, durable) and a private RabbitMQ node (Debian's
# rabbitmq-server, its own node name, ports and data dir under a temp dir;
# installed with apt-get if missing), then runs orch-loadgen against each,
# interleaved round by round: 4 producers, 4 consumers, 100-byte messages,
# durable queues, every message accounted for. Orch is driven with the stock
# aws-sdk-go-v2 SQS client (SigV4, credentials from `orch aws-env`),
# RabbitMQ with amqp091-go (publisher confirms, manual acks, persistent
# messages; classic and quorum queues).
#
# Runs per round: 10-message batches; single messages (one per send and one
# per receive: SendMessage, ReceiveMessage of 1, DeleteMessage; AMQP prefetch
# 1, one ack per message); a steady 500 msg/s of single messages (latency).
# Orch runs twice per load: with the stock SDK (the headline, line "batch=")
# and with orch-loadgen's lean client (--client lean, line "orch-lean
# batch="; the same JSON wire protocol and SigV4, MD5s checked, without the
# SDK's ~1,000 us of client CPU per single message, so the client costs
# compare with the AMQP client's; LEAN=0 skips it).
# After each run it prints the server's CPU per message from
# /proc/<pid>/stat (utime+stime; the orch process, embedded etcd included;
# RabbitMQ's beam.smp). At the end: the long-poll wake-up and a table of
# medians [min-max] with the ratios Orch/RabbitMQ. Exits non-zero if a
# message was lost.
#
#   BIN (default bin) holds orch and orch-loadgen; DURATION per run (10s);
#   ROUNDS (3); RABBITMQ=0 runs Orch only (bench-compare uses the Orch lines,
#   which start with "batch="); BASE_BIN=dir also runs the orch in dir (an
#   older build, e.g. main's) as "orch-base", interleaved in the same rounds,
#   driven by the same load generator ("orch-base", and "orch-base-lean"
#   with the lean client). BASE_FLAGS are extra flags of the
#   base server: BASE_BIN=bin BASE_FLAGS="--queue-store etcd" compares this
#   build's local message store against its etcd store.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
RABBITMQ=${RABBITMQ:-1}
LEAN=${LEAN:-1}
here=$(cd "$(dirname "$0")" && pwd)
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ADDR=${ADDR:-127.0.0.1:$(freeport)}
DIR=$(mktemp -d /tmp/bench-queue.XXXXXX)
PID= RPID= BPID=
cleanup() {
	set +e # a killed server's exit status must not end the clean-up
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	if [ -n "$RPID" ]; then
		# beam.smp shuts down on SIGTERM, taking a few seconds.
		kill "$RPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$RPID" 2>/dev/null
	fi
	# epmd was started for our port only (ERL_EPMD_PORT); stop that one
	# (it refuses while it still lists the node, so retry briefly).
	if [ -n "${ERL_EPMD_PORT:-}" ]; then
		for _ in $(seq 20); do epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 && break; sleep 0.2; done
	fi
	rm -rf "$DIR"
	true
}
trap cleanup EXIT

export ORCH_CONFIG="$DIR/config.yaml"
# TLS is the server's default and what is measured; PLAIN_HTTP=1 measures
# --plain-http instead (scripts/bench-queue-tls.sh compares the two).
PLAIN_HTTP=${PLAIN_HTTP:-0}
SCHEME=https PLAIN_FLAG=()
if [ "$PLAIN_HTTP" = 1 ]; then SCHEME=http PLAIN_FLAG=(--plain-http); fi
"$BIN/orch" server --listen "$ADDR" --data-dir "$DIR/data" --log-level warn "${PLAIN_FLAG[@]}" >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 300); do curl -skf "$SCHEME://$ADDR/healthz" >/dev/null && [ -s "$ORCH_CONFIG" ] && break; sleep 0.1; done
eval "$("$BIN/orch" aws-env)"
if [ -n "${BASE_BIN:-}" ]; then
	# The base server has a config file and access keys of its own, in a
	# directory of its own: `orch aws-env` writes the CA beside the config
	# (ca.pem), which must not overwrite this build's.
	BADDR=127.0.0.1:$(freeport)
	mkdir -p "$DIR/base"
	# A base build from before TLS serves plain HTTP only; one with TLS
	# runs in the same mode as this build.
	BSCHEME=http BFLAG=()
	if "$BASE_BIN/orch" server --help 2>&1 | grep -q -- --plain-http; then
		if [ "$PLAIN_HTTP" = 1 ]; then BFLAG=(--plain-http); else BSCHEME=https; fi
	fi
	ORCH_CONFIG="$DIR/base/config.yaml" "$BASE_BIN/orch" server --listen "$BADDR" --data-dir "$DIR/base-data" --log-level warn "${BFLAG[@]}" ${BASE_FLAGS:-} >"$DIR/base-server.log" 2>&1 &
	BPID=$!
	for _ in $(seq 300); do curl -skf "$BSCHEME://$BADDR/healthz" >/dev/null && [ -s "$DIR/base/config.yaml" ] && break; sleep 0.1; done
	BCA=$(ORCH_CONFIG="$DIR/base/config.yaml" "$BASE_BIN/orch" aws-env | sed -n "s/^export AWS_CA_BUNDLE=//p" | tr -d "'\"")
	BKEYS=$(ORCH_CONFIG="$DIR/base/config.yaml" "$BASE_BIN/orch" aws-env | sed -n "s/^export AWS_ACCESS_KEY_ID=//p;s/^export AWS_SECRET_ACCESS_KEY=//p" | tr -d "'\"" | tr '\n' ' ')
	read -r BAK BSK <<<"$BKEYS"
fi

AMQP=
if [ "$RABBITMQ" = 1 ]; then
	if ! command -v rabbitmq-server >/dev/null; then
		echo "installing rabbitmq-server (Debian) ..."
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >"$DIR/apt.log" 2>&1 || { cat "$DIR/apt.log"; exit 1; }
		# The package starts the system's node; ours runs apart from it.
		service rabbitmq-server stop >/dev/null 2>&1 || true
	fi
	# Run the broker's own script, not /usr/sbin's wrapper (which switches
	# to the rabbitmq user and /var/lib/rabbitmq): everything of this node
	# lives in $DIR/rmq and on ports of its own.
	rsrv=$(ls /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server 2>/dev/null | tail -1)
	[ -n "$rsrv" ] || rsrv=$(command -v rabbitmq-server)
	R="$DIR/rmq"
	mkdir -p "$R"
	echo '[].' >"$R/enabled_plugins"
	: >"$R/rabbitmq.conf"
	RPORT=$(freeport)
	export HOME="$R" RABBITMQ_NODENAME="benchq$$@localhost" RABBITMQ_NODE_PORT=$RPORT RABBITMQ_DIST_PORT=$(freeport) \
		ERL_EPMD_PORT=$(freeport) RABBITMQ_MNESIA_BASE="$R/mnesia" RABBITMQ_LOG_BASE="$R/log" RABBITMQ_LOGS="$R/log/rabbit.log" \
		RABBITMQ_CONFIG_FILE="$R/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$R/enabled_plugins" RABBITMQ_PID_FILE="$R/pid" \
		RABBITMQ_GENERATED_CONFIG_DIR="$R/config" RABBITMQ_SCHEMA_DIR="$R/schema"
	"$rsrv" >"$R/out.log" 2>&1 &
	for _ in $(seq 600); do
		RPID=$(cat "$R/pid" 2>/dev/null || true)
		[ -n "$RPID" ] && grep -q 'Starting broker... completed' "$R/out.log" && break
		sleep 0.1
	done
	grep -q 'Starting broker... completed' "$R/out.log" || { echo "rabbitmq did not start:"; tail -20 "$R/out.log"; exit 1; }
	AMQP="amqp://guest:guest@127.0.0.1:$RPORT/"
	echo "rabbitmq: $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?'), node $RABBITMQ_NODENAME, beam.smp pid $RPID"
fi

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# run SYSTEM PID ARGS...: one load generator run and the server's CPU per
# message received.
run() {
	local sys=$1 pid=$2
	shift 2
	local t0 out n pre=
	case $sys in orch | rabbitmq) ;; *) pre="$sys " ;; esac
	t0=$(ticks "$pid")
	out=$("$BIN/orch-loadgen" --producers 4 --consumers 4 --size 100 --duration "$DURATION" "$@") || { echo "$out"; echo "FAIL: $sys lost messages or failed"; exit 1; }
	n=$(sed -n 's/.* received \([0-9]*\) unique.*/\1/p' <<<"$out" | head -1)
	awk -v a="$t0" -v b="$(ticks "$pid")" -v hz="$HZ" -v n="$n" -v o="$(head -1 <<<"$out")" -v p="$pre" \
		'BEGIN{printf "%s%s; server cpu %.0f us/msg\n", p, o, n ? (b-a)*1e6/hz/n : 0}'
	tail -n +2 <<<"$out"
}

echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ); $ROUNDS rounds of $DURATION"
for r in $(seq "$ROUNDS"); do
	echo "round $r ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
	for mode in "--batch 10 --receive-max 10" "--batch 1 --receive-max 1" "--batch 1 --receive-max 1 --rate 500"; do
		# shellcheck disable=SC2086
		run orch "$PID" --endpoint "$SCHEME://$ADDR" $mode
		# shellcheck disable=SC2086
		[ "$LEAN" != 1 ] || run orch-lean "$PID" --endpoint "$SCHEME://$ADDR" --client lean $mode
		# shellcheck disable=SC2086
		[ -z "$BPID" ] || AWS_CA_BUNDLE=${BCA:-} run orch-base "$BPID" --endpoint "$BSCHEME://$BADDR" --access-key "$BAK" --secret-key "$BSK" $mode
		# shellcheck disable=SC2086
		[ -z "$BPID" ] || [ "$LEAN" != 1 ] || AWS_CA_BUNDLE=${BCA:-} run orch-base-lean "$BPID" --endpoint "$BSCHEME://$BADDR" --access-key "$BAK" --secret-key "$BSK" --client lean $mode
		if [ -n "$AMQP" ]; then
			# shellcheck disable=SC2086
			run rabbitmq "$RPID" --amqp "$AMQP" --queue-type classic $mode
			# shellcheck disable=SC2086
			run rabbitmq "$RPID" --amqp "$AMQP" --queue-type quorum $mode
		fi
	done
done | tee "$DIR/runs.log"
"$BIN/orch-loadgen" --endpoint "$SCHEME://$ADDR" --mode wake --rounds 100
python3 "$here/bench-queue-summary.py" "$DIR/runs.log"
