#!/usr/bin/env bash
# Debian's awscli 2.9 (SNS query protocol) against an Orch server: every
# SNS action and delivery to a queue.
# Usage: awscli_query.sh AWS_BINARY URL ACCESS_KEY SECRET_KEY
set -euo pipefail
AWS_BIN=$1 URL=$2
export AWS_ACCESS_KEY_ID=$3 AWS_SECRET_ACCESS_KEY=$4 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
aws() { "$AWS_BIN" --endpoint-url "$URL" --output json "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

ARN=$(aws sns create-topic --name cli-news --attributes DisplayName=Cli --tags Key=k,Value=v --query TopicArn --output text)
[ "$ARN" = "arn:aws:sns:us-east-1:000000000000:cli-news" ] || fail "TopicArn $ARN"
aws sns list-topics | grep -q "$ARN" || fail "list-topics"
aws sns set-topic-attributes --topic-arn "$ARN" --attribute-name DisplayName --attribute-value Shell
[ "$(aws sns get-topic-attributes --topic-arn "$ARN" --query Attributes.DisplayName --output text)" = Shell ] || fail "get-topic-attributes"
aws sns tag-resource --resource-arn "$ARN" --tags Key=tier,Value=gold
aws sns untag-resource --resource-arn "$ARN" --tag-keys k
[ "$(aws sns list-tags-for-resource --resource-arn "$ARN" --query 'Tags[0].Value' --output text)" = gold ] || fail "tags"

QURL=$(aws sqs create-queue --queue-name cli-q --query QueueUrl --output text)
SUB=$(aws sns subscribe --topic-arn "$ARN" --protocol sqs --notification-endpoint arn:aws:sqs:us-east-1:000000000000:cli-q \
  --attributes RawMessageDelivery=true --query SubscriptionArn --output text)
case "$SUB" in "$ARN":*) ;; *) fail "SubscriptionArn $SUB" ;; esac
aws sns list-subscriptions | grep -q "$SUB" || fail "list-subscriptions"
aws sns list-subscriptions-by-topic --topic-arn "$ARN" | grep -q "$SUB" || fail "list-subscriptions-by-topic"
aws sns set-subscription-attributes --subscription-arn "$SUB" --attribute-name RawMessageDelivery --attribute-value true
[ "$(aws sns get-subscription-attributes --subscription-arn "$SUB" --query Attributes.RawMessageDelivery --output text)" = true ] || fail "subscription attributes"

aws sns publish --topic-arn "$ARN" --message "flat white" >/dev/null
aws sns publish-batch --topic-arn "$ARN" --publish-batch-request-entries Id=a,Message=one Id=b,Message=two >/dev/null
got=""
for i in $(seq 1 20); do
  got="$got $(aws sqs receive-message --queue-url "$QURL" --max-number-of-messages 10 --wait-time-seconds 1 --query 'Messages[].Body' --output text)"
  case "$got" in *"flat white"*one*two*|*"flat white"*two*one*|*one*"flat white"*|*two*"flat white"*) [ "$(echo "$got" | grep -o -e 'flat white' -e one -e two | wc -l)" -ge 3 ] && break ;; esac
done
for w in "flat white" one two; do echo "$got" | grep -q "$w" || fail "queue did not receive '$w' (got: $got)"; done

if aws sns publish --topic-arn "${ARN}-missing" --message x 2>/tmp/err.$$; then fail "publish to a missing topic succeeded"; fi
grep -q NotFound /tmp/err.$$ || fail "missing topic: $(cat /tmp/err.$$)"
if aws sns create-topic --name "bad name" 2>/tmp/err.$$; then fail "bad topic name accepted"; fi
grep -q InvalidParameter /tmp/err.$$ || fail "bad name: $(cat /tmp/err.$$)"
if aws sns confirm-subscription --topic-arn "$ARN" --token nope 2>/tmp/err.$$; then fail "bad token accepted"; fi
grep -q InvalidParameter /tmp/err.$$ || fail "bad token: $(cat /tmp/err.$$)"
rm -f /tmp/err.$$

aws sns unsubscribe --subscription-arn "$SUB"
aws sns delete-topic --topic-arn "$ARN"
aws sns list-topics | grep -q "$ARN" && fail "topic still listed after delete-topic"
echo "awscli 2.9 SNS query conformance: ok"
