#!/usr/bin/env bash
# Queue speed, Orch and RabbitMQ side by side (issue 18). Starts real
# `orch server`s (embedded etcd, durable) and a private RabbitMQ node
# (Debian's rabbitmq-server, its own node name, ports and data dir under a
# temp dir; installed with apt-get if missing), then runs orch-loadgen
# against each, interleaved round by round: 4 producers, 4 consumers,
# 100-byte messages, durable queues, every message accounted for. Orch is
# driven with the stock aws-sdk-go-v2 SQS client (SigV4, credentials from
# `orch aws-env`), RabbitMQ with amqp091-go (publisher confirms, manual acks,
# persistent messages; classic and quorum queues).
#
# Transport security, like for like (TRANSPORT=both, the default):
#   tls    Orch over HTTPS (the server's default; its own cluster CA, ECDSA
#          P-256, TLS 1.3) against RabbitMQ over AMQPS: a throwaway CA and
#          server certificate made here with openssl (ECDSA P-256, for
#          127.0.0.1), the node's TLS listener offering TLS 1.3 only, and the
#          load generator verifying the broker's certificate against that CA
#          (--amqp amqps://... --amqp-ca). Lines: "batch=" (Orch, SDK),
#          "orch-lean", "amqps-classic", "amqps-quorum".
#   plain  a second orch server with --plain-http against the same node's
#          plain AMQP listener. Lines: "orch-plain", "orch-plain-lean",
#          "amqp-classic", "amqp-quorum".
# Each pair is like for like; comparing Orch over TLS with RabbitMQ over
# plain AMQP (what this script measured before) charges Orch for TLS alone.
# TRANSPORT=tls or TRANSPORT=plain runs one pair (half the time). Within a
# round the two transports alternate which goes first.
#
# Runs per round and transport: 10-message batches; single messages (one
# per send and one per receive: SendMessage, ReceiveMessage of 1,
# DeleteMessage; AMQP prefetch 1, one ack per message); a steady 500 msg/s
# of single messages (latency). Orch runs twice per load: with the stock
# SDK and with orch-loadgen's lean client (--client lean: the same JSON wire
# protocol and SigV4, MD5s checked, without the SDK's ~1,000 us of client
# CPU per single message, so the client costs compare with the AMQP
# client's; LEAN=0 skips it).
# After each run it prints the server's CPU per message from
# /proc/<pid>/stat (utime+stime; the orch process, embedded etcd included;
# RabbitMQ's beam.smp), beside the load generator's own ("client cpu"). At
# the end: the long-poll wake-up and, per transport, a table of medians
# [min-max] with the ratios Orch/RabbitMQ, then what TLS costs each system
# (TLS/plain). Exits non-zero if a message was lost.
#
#   BIN (default bin) holds orch and orch-loadgen; DURATION per run (10s);
#   ROUNDS (3); RABBITMQ=0 runs Orch only (bench-compare uses the Orch TLS
#   lines, which start with "batch="); BASE_BIN=dir also runs the orch in
#   dir (an older build, e.g. main's) in the same rounds, driven by the same
#   load generator, over TLS ("orch-base", "orch-base-lean") unless
#   TRANSPORT=plain or the build predates TLS ("orch-plain-base",
#   "orch-plain-base-lean"). BASE_FLAGS are extra flags of the base server:
#   BASE_BIN=bin BASE_FLAGS="--queue-store etcd" compares this build's
#   local message store against its etcd store.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
RABBITMQ=${RABBITMQ:-1}
LEAN=${LEAN:-1}
TRANSPORT=${TRANSPORT:-both}
case $TRANSPORT in
tls | plain) TRANSPORTS=("$TRANSPORT") ;;
both) TRANSPORTS=(tls plain) ;;
*) echo "TRANSPORT must be tls, plain or both" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
DIR=$(mktemp -d /tmp/bench-queue.XXXXXX)
RPID=
ORCHS=() # names of the orch servers started, each with $DIR/<name>/{pid,env}
cleanup() {
	set +e # a killed server's exit status must not end the clean-up
	for n in "${ORCHS[@]}"; do
		p=$(cat "$DIR/$n/pid" 2>/dev/null) && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
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

# start_orch NAME TRANSPORT BINDIR [FLAGS...]: an orch server with a
# config file, data dir and access keys of its own under $DIR/NAME (`orch
# aws-env` writes the CA beside the config, so servers must not share one);
# $DIR/NAME/env holds its aws-env (endpoint, keys, CA bundle).
start_orch() {
	local name=$1 tr=$2 bin=$3 scheme=https addr
	shift 3
	addr=127.0.0.1:$(freeport)
	mkdir -p "$DIR/$name"
	if [ "$tr" = plain ]; then scheme=http; fi
	ORCH_CONFIG="$DIR/$name/config.yaml" "$bin/orch" server --listen "$addr" --data-dir "$DIR/$name/data" --log-level warn "$@" >"$DIR/$name/server.log" 2>&1 &
	echo $! >"$DIR/$name/pid"
	ORCHS+=("$name")
	for _ in $(seq 300); do curl -skf "$scheme://$addr/healthz" >/dev/null && [ -s "$DIR/$name/config.yaml" ] && break; sleep 0.1; done
	ORCH_CONFIG="$DIR/$name/config.yaml" "$bin/orch" aws-env >"$DIR/$name/env"
}
has() { [[ " ${TRANSPORTS[*]} " == *" $1 "* ]]; }
if has tls; then start_orch tls tls "$BIN"; fi
if has plain; then start_orch plain plain "$BIN" --plain-http; fi
BASE_TR=
if [ -n "${BASE_BIN:-}" ]; then
	# A base build from before TLS serves plain HTTP only.
	if ! "$BASE_BIN/orch" server --help 2>&1 | grep -q -- --plain-http; then
		BASE_TR=plain
		# shellcheck disable=SC2086
		start_orch base plain "$BASE_BIN" ${BASE_FLAGS:-}
	elif has tls; then
		BASE_TR=tls
		# shellcheck disable=SC2086
		start_orch base tls "$BASE_BIN" ${BASE_FLAGS:-}
	else
		BASE_TR=plain
		# shellcheck disable=SC2086
		start_orch base plain "$BASE_BIN" --plain-http ${BASE_FLAGS:-}
	fi
fi

AMQP= AMQPS= RCA=
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
	mkdir -p "$R/tls"
	echo '[].' >"$R/enabled_plugins"
	: >"$R/rabbitmq.conf"
	RPORT=$(freeport)
	if has tls; then
		# A throwaway CA and a server certificate for 127.0.0.1, both
		# ECDSA P-256 as Orch's own (pkg/pki); the CA's key is deleted once
		# it has signed. The node offers TLS 1.3 only, as Orch's server
		# does, and asks no client certificate (neither does Orch's SQS
		# endpoint: both authenticate the client inside the protocol).
		SPORT=$(freeport)
		(
			cd "$R/tls"
			openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
				-days 2 -subj "/CN=bench-queue throwaway CA" 2>/dev/null
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
				-subj "/CN=127.0.0.1" 2>/dev/null
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >ext.cnf
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem 2>/dev/null
			rm -f ca.key
		) || { echo "openssl could not make the broker's certificate"; exit 1; }
		cat >"$R/rabbitmq.conf" <<-CONF
			listeners.ssl.default = $SPORT
			ssl_options.cacertfile = $R/tls/ca.pem
			ssl_options.certfile = $R/tls/server.pem
			ssl_options.keyfile = $R/tls/server.key
			ssl_options.verify = verify_none
			ssl_options.fail_if_no_peer_cert = false
			ssl_options.versions.1 = tlsv1.3
		CONF
		RCA="$R/tls/ca.pem"
		AMQPS="amqps://guest:guest@127.0.0.1:$SPORT/"
	fi
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
	has plain && AMQP="amqp://guest:guest@127.0.0.1:$RPORT/"
	echo "rabbitmq: $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?'), node $RABBITMQ_NODENAME, beam.smp pid $RPID${AMQPS:+, AMQPS on $SPORT (TLS 1.3, ECDSA P-256 certificate)}"
fi

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# run LABEL PID ARGS...: one load generator run and the server's CPU per
# message received; LABEL (if any) starts the result line.
run() {
	local label=$1 pid=$2
	shift 2
	local t0 out n
	t0=$(ticks "$pid")
	out=$("$BIN/orch-loadgen" --producers 4 --consumers 4 --size 100 --duration "$DURATION" "$@") || { echo "$out"; echo "FAIL: ${label:-run} $* lost messages or failed"; exit 1; }
	n=$(sed -n 's/.* received \([0-9]*\) unique.*/\1/p' <<<"$out" | head -1)
	awk -v a="$t0" -v b="$(ticks "$pid")" -v hz="$HZ" -v n="$n" -v o="$(head -1 <<<"$out")" -v p="${label:+$label }" \
		'BEGIN{printf "%s%s; server cpu %.0f us/msg\n", p, o, n ? (b-a)*1e6/hz/n : 0}'
	tail -n +2 <<<"$out"
}
# orun LABEL SERVER ARGS...: run against the orch server SERVER with its
# endpoint, keys and CA bundle.
orun() {
	local label=$1 s=$2
	shift 2
	(
		set -a
		. "$DIR/$s/env"
		set +a
		run "$label" "$(cat "$DIR/$s/pid")" --endpoint "$AWS_ENDPOINT_URL" "$@"
	) || exit 1
}
# one TRANSPORT MODE...: every system over one transport, one load.
one() {
	local tr=$1 p=
	shift
	if [ "$tr" = plain ]; then p=orch-plain; fi
	orun "$p" "$tr" "$@"
	[ "$LEAN" != 1 ] || orun "${p:-orch}-lean" "$tr" --client lean "$@"
	if [ "$BASE_TR" = "$tr" ]; then
		orun "${p:-orch}-base" base "$@"
		[ "$LEAN" != 1 ] || orun "${p:-orch}-base-lean" base --client lean "$@"
	fi
	if [ "$RABBITMQ" = 1 ]; then
		local url=$AMQP tls=()
		if [ "$tr" = tls ]; then url=$AMQPS tls=(--amqp-ca "$RCA"); fi
		run "" "$RPID" --amqp "$url" "${tls[@]}" --queue-type classic "$@"
		run "" "$RPID" --amqp "$url" "${tls[@]}" --queue-type quorum "$@"
	fi
}

echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ); $ROUNDS rounds of $DURATION; transport $TRANSPORT"
for r in $(seq "$ROUNDS"); do
	echo "round $r ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
	order=("${TRANSPORTS[@]}")
	if [ $((r % 2)) = 0 ] && [ ${#order[@]} = 2 ]; then order=("${order[1]}" "${order[0]}"); fi
	for mode in "--batch 10 --receive-max 10" "--batch 1 --receive-max 1" "--batch 1 --receive-max 1 --rate 500"; do
		for tr in "${order[@]}"; do
			# shellcheck disable=SC2086
			one "$tr" $mode
		done
	done
done | tee "$DIR/runs.log"
(
	set -a
	. "$DIR/${TRANSPORTS[0]}/env"
	set +a
	"$BIN/orch-loadgen" --endpoint "$AWS_ENDPOINT_URL" --mode wake --rounds 100
)
python3 "$here/bench-queue-summary.py" "$DIR/runs.log"
