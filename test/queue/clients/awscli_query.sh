#!/usr/bin/env bash
# Debian's awscli 2.9 speaks the SQS query/XML protocol. Usage:
#   awscli_query.sh AWS_BINARY ENDPOINT ACCESS_KEY SECRET_KEY
set -u
AWS=$1; EP=$2
export AWS_ACCESS_KEY_ID=$3 AWS_SECRET_ACCESS_KEY=$4 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
fail=0
ok()  { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; fail=1; }
a() { "$AWS" --endpoint-url "$EP" --output json sqs "$@"; }

"$AWS" --version 2>&1 | head -1
N=cli-$RANDOM$RANDOM
# Each aws call takes seconds on a loaded machine (Python starts each time):
# the visibility timeout must outlast receive -> change-visibility -> delete.
U=$(a create-queue --queue-name "$N" --attributes VisibilityTimeout=120 --query QueueUrl --output text) || bad create "$U"
[[ $U == */000000000000/$N ]] && ok "create-queue" || bad create-queue "$U"
[[ $(a get-queue-url --queue-name "$N" --query QueueUrl --output text) == "$U" ]] && ok get-queue-url || bad get-queue-url ""
a list-queues --queue-name-prefix cli- | grep -q "$N" && ok list-queues || bad list-queues ""

out=$(a send-message --queue-url "$U" --message-body $'hello <xml> & "quotes"\r\nline' \
  --message-attributes '{"s":{"DataType":"String","StringValue":"v"},"b":{"DataType":"Binary","BinaryValue":"AAH/"}}') \
  && ok "send-message (MD5 verified by the CLI)" || bad send-message "$out"
out=$(a receive-message --queue-url "$U" --attribute-names All --message-attribute-names All --max-number-of-messages 10)
echo "$out" | python3 -c '
import json,sys
m=json.load(sys.stdin)["Messages"][0]
assert m["Body"]=="hello <xml> & \"quotes\"\r\nline", repr(m["Body"])
assert m["MessageAttributes"]["s"]["StringValue"]=="v"
assert m["Attributes"]["ApproximateReceiveCount"]=="1"
' && ok "receive-message round trip (CR kept, MD5 verified)" || bad receive-message "$out"
RH=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Messages"][0]["ReceiptHandle"])')
a change-message-visibility --queue-url "$U" --receipt-handle "$RH" --visibility-timeout 120 && ok change-message-visibility || bad change-message-visibility ""
a delete-message --queue-url "$U" --receipt-handle "$RH" && ok delete-message || bad delete-message ""

out=$(a send-message-batch --queue-url "$U" --entries '[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two"}]')
echo "$out" | grep -q '"Id": "b"' && ok send-message-batch || bad send-message-batch "$out"
out=$(a receive-message --queue-url "$U" --max-number-of-messages 10 --wait-time-seconds 1)
entries=$(echo "$out" | python3 -c 'import json,sys; print(json.dumps([{"Id":str(i),"ReceiptHandle":m["ReceiptHandle"]} for i,m in enumerate(json.load(sys.stdin)["Messages"])]))')
out=$(a delete-message-batch --queue-url "$U" --entries "$entries")
[[ $(echo "$out" | grep -c '"Id"') -ge 2 ]] && ok delete-message-batch || bad delete-message-batch "$out"

out=$(a get-queue-attributes --queue-url "$U" --attribute-names All)
echo "$out" | grep -q '"VisibilityTimeout": "120"' && echo "$out" | grep -q QueueArn && ok get-queue-attributes || bad get-queue-attributes "$out"
a set-queue-attributes --queue-url "$U" --attributes DelaySeconds=1 && ok set-queue-attributes || bad set-queue-attributes ""
a tag-queue --queue-url "$U" --tags team=coffee && [[ $(a list-queue-tags --queue-url "$U" --query Tags.team --output text) == coffee ]] && ok tags || bad tags ""

err=$(a get-queue-url --queue-name "nope-$N" 2>&1); [[ $err == *AWS.SimpleQueueService.NonExistentQueue* ]] && ok "error code NonExistentQueue" || bad "missing queue" "$err"
err=$(a create-queue --queue-name "$N" --attributes VisibilityTimeout=7 2>&1); [[ $err == *QueueAlreadyExists* ]] && ok "error code QueueAlreadyExists" || bad "create conflict" "$err"
err=$(a send-message --queue-url "$U" --message-body $'\x01' 2>&1); [[ $err == *InvalidMessageContents* ]] && ok "error code InvalidMessageContents" || bad "bad chars" "$err"
err=$(a send-message-batch --queue-url "$U" --entries '[{"Id":"a","MessageBody":"1"},{"Id":"a","MessageBody":"2"}]' 2>&1); [[ $err == *BatchEntryIdsNotDistinct* ]] && ok "error code BatchEntryIdsNotDistinct" || bad "dup ids" "$err"
err=$(AWS_SECRET_ACCESS_KEY=wrong a list-queues 2>&1); [[ $err == *SignatureDoesNotMatch* ]] && ok "error code SignatureDoesNotMatch" || bad "bad signature" "$err"

F=$(a create-queue --queue-name "$N.fifo" --attributes FifoQueue=true,ContentBasedDeduplication=true --query QueueUrl --output text)
a send-message --queue-url "$F" --message-body first --message-group-id g >/dev/null
a send-message --queue-url "$F" --message-body second --message-group-id g >/dev/null
out=$(a receive-message --queue-url "$F" --max-number-of-messages 10 --attribute-names All)
[[ $(echo "$out" | python3 -c 'import json,sys; print(",".join(m["Body"] for m in json.load(sys.stdin)["Messages"]))') == first,second ]] && ok "fifo order" || bad fifo "$out"

a purge-queue --queue-url "$U" && ok purge-queue || bad purge-queue ""
a delete-queue --queue-url "$U" && a delete-queue --queue-url "$F" && ok delete-queue || bad delete-queue ""
[[ $fail == 0 ]] && echo "awscli query conformance: all passed" || echo "awscli query conformance: FAILED"
exit $fail
