#!/usr/bin/env bash
# The demo behind `make demo`: a one-host cluster (orch dev) running the
# examples, end to end, then cleaned up: orch dev stops and removes every
# container it started when the demo stops it, and the demo's data dir,
# log and credentials (a temp dir) are deleted. What stays: the example
# images (make images) and bin/. Needs bin/orch (make build) and the images.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${ORCH_DEMO_PORT:-17474}"
work="$(mktemp -d)"
export ORCH_CONFIG="$work/config.yaml"   # keep the demo's credentials apart from yours
export ORCH_SERVER="https://127.0.0.1:$port"   # TLS: the CLI trusts the cluster CA orch dev writes into $ORCH_CONFIG
orch() { ./bin/orch "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

dev_pid=""
node="${ORCH_DEMO_NODE:-orch-demo}"
cleanup() {
	if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
		say "stopping orch dev (Ctrl-C): it stops and removes the containers it started"
		kill -INT "$dev_pid"
		wait "$dev_pid" || true
		grep -E '^(stopping|stopped|warning)' "$work/dev.out" || true
	fi
	left="$(docker ps -aq --filter "label=orch.node=$node"; docker ps -aq --filter "label=orch.function-node=$node")"
	if [ -n "$left" ]; then
		echo "demo: removing containers orch dev left behind: $left" >&2
		docker rm -f $left >/dev/null
	fi
	rm -rf "$work"
	echo "deleted the demo's data dir, log and credentials ($work)"
}
trap cleanup EXIT

say "starting orch dev on $ORCH_SERVER"
# Listen on all interfaces: task containers reach the queue service through
# the host (host.docker.internal), as AWS_ENDPOINT_URL tells them.
# Its own node name keeps its containers apart from an orch dev of yours.
./bin/orch dev --listen "0.0.0.0:$port" --data-dir "$work/data" --node-name "$node" >"$work/dev.out" 2>&1 &
dev_pid=$!
for _ in $(seq 1 300); do
	if curl -fsSk "$ORCH_SERVER/healthz" >/dev/null 2>&1 && orch get nodes 2>/dev/null | grep -q true; then break; fi
	sleep 0.2
done
cat "$work/dev.out"
orch get nodes

say "orch apply -f examples/manifests"
# The topic service starts a moment after the API on a busy machine; it
# answers "unavailable ... retry", and apply is idempotent, so retry.
for i in $(seq 1 20); do
	if out="$(orch apply -f examples/manifests 2>&1)"; then echo "$out"; break; fi
	if [ "$i" = 20 ] || ! grep -q 'unavailable' <<<"$out"; then echo "$out" >&2; exit 1; fi
	sleep 0.5
done
say "re-applying is idempotent"
orch apply -f examples/manifests

say "orch run web --wait (a long-running web server on host port 18080; --wait waits for its health check)"
orch run web --wait
web_task="$(orch get tasks -o json | python3 -c 'import json,sys; print([t["taskId"] for t in json.load(sys.stdin) if t["family"]=="web" and t["lastStatus"]=="RUNNING"][0])')"
say "curl http://127.0.0.1:18080/"
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:18080/ && break; sleep 0.1; done

say "orch run job --wait --until stopped (a one-shot job: PENDING -> ACTIVATING -> RUNNING -> STOPPED)"
orch run job --wait --until stopped
job_task="$(orch get tasks -o json | python3 -c 'import json,sys; print([t["taskId"] for t in json.load(sys.stdin) if t["family"]=="job"][0])')"
say "orch logs $job_task"
orch logs "$job_task"

say "orch get tasks"
orch get tasks
say "orch describe task $web_task"
orch describe task "$web_task"

say "orch stop $web_task --wait"
orch stop "$web_task" --wait

queue_backlog() {
	orch get queues -o json | python3 -c 'import json,sys; q=[q for q in json.load(sys.stdin) if q["name"]=="orders"][0]; print(q["visible"]+q["inFlight"])'
}
wait_served() {
	for _ in $(seq 1 150); do
		[ "$(queue_backlog)" = 0 ] && return 0
		sleep 0.2
	done
	echo "orders still waiting after 30s" >&2
	return 1
}

say "the coffee shop: a queue, a cashier job and a barista service (apply --wait)"
orch apply -f examples/manifests/coffee.yaml --wait
say "the cashier places 10 orders; two baristas serve them (stock AWS SDK, SQS protocol)"
orch run cashier --wait --until stopped
wait_served
orch get queues
for t in $(orch get tasks -o json | python3 -c 'import json,sys; print(" ".join(t["taskId"] for t in json.load(sys.stdin) if t["family"]=="barista" and t["lastStatus"]=="RUNNING"))'); do
	orch logs "$t" | grep served || true
done

say "every barista goes home (orch scale barista 0); new orders wait in the queue, nothing is lost"
orch scale barista 0 --wait
orch run cashier --wait --until stopped
orch get queues
say "the baristas return (orch scale barista 2) and serve the waiting orders"
orch scale barista 2 --wait
wait_served
orch get queues
orch get services
orch get tasks
say "rush hour: baristas that follow the order backlog (autoScaling: 0 to 5 baristas, 5 orders each)"
rush() { orch get services | grep -E '^(SERVICE|rush-barista) '; }
rush
say "100 orders arrive (orch run rush-cashier): the first wakes a barista, the burst brings more"
orch run rush-cashier
# rush-cashier starts a moment after `orch run` returns: wait for its orders
# (or the barista they woke) before taking an empty queue at 0 as the end.
busy=""
for _ in $(seq 1 60); do
	rush | tail -n 1
	desired="$(orch get services rush-barista -o json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("desiredCount", 1))')"
	backlog="$(orch get queues -o json | python3 -c 'import json,sys; q=[q for q in json.load(sys.stdin) if q["name"]=="rush-orders"][0]; print(q["visible"]+q["inFlight"])')"
	if [ "$backlog" != 0 ] || [ "$desired" != 0 ]; then busy=1; fi
	if [ -n "$busy" ] && [ "$backlog" = 0 ] && [ "$desired" = 0 ]; then break; fi
	sleep 2
done
say "every order served, the baristas back at 0: the scaling activities and their causes"
orch describe service rush-barista | sed -n '/^Auto scaling/,/^Events/p'
say "the coffee shop's newsletter: a coffee-news topic; coupons and cheap-news queues (filtered) and a news board web server (http, confirmed, verifying signatures)"
orch apply -f examples/manifests/coffee-news.yaml --wait
for _ in $(seq 1 150); do
	orch describe topic coffee-news | grep -q 'pending confirmation' || break
	sleep 0.2
done
orch describe topic coffee-news
say "orch run announce: the shop publishes 5 items (2 coupons, 1 trivia, 2 new products)"
orch run announce --wait --until stopped
sleep 1
say "each subscriber got exactly what it asked for"
orch get queues
say "curl http://127.0.0.1:18081/ (the news board: every message's signature verified)"
curl -fsS http://127.0.0.1:18081/ || true
say "receipts without a server: a Lambda-style function (aws-lambda-go, unchanged) triggered by the till's orders queue"
orch apply -f examples/manifests/receipts.yaml
orch get functions
till_backlog() {
	orch get queues -o json | python3 -c 'import json,sys; q=[q for q in json.load(sys.stdin) if q["name"]=="till-orders"][0]; print(q["visible"]+q["inFlight"])'
}
say "orch run till: 20 orders as JSON; the first starts the receipt function (cold start), the rest find it warm"
orch run till --wait --until stopped
for _ in $(seq 1 150); do
	[ "$(till_backlog)" = 0 ] && break
	sleep 0.2
done
orch get queues | grep -E '^(QUEUE|NAME|till-orders|receipt-dlq) ' || orch get queues
say "orch invoke receipt (once directly, RequestResponse, with its log tail)"
orch invoke receipt --payload '{"id":"counter-1","customer":"ann","drink":"latte","price":3.5}' --log
say "orch logs function receipt (START / END / REPORT per invocation, Init Duration on the cold start)"
orch logs function receipt | tail -n 12
say "orch usage (per function: invocations, errors, p50/p99, GB-seconds; per service: vCPU- and GB-seconds)"
orch usage
say "demo finished"
