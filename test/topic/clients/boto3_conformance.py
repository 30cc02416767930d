#!/usr/bin/env python3
"""boto3 (SNS query protocol) against an Orch server: every SNS action,
fan-out to queues with the envelope and raw, FIFO, and SNS's error codes.
Usage: boto3_conformance.py URL ACCESS_KEY SECRET_KEY"""
import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

url, ak, sk = sys.argv[1:4]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk)
sns = boto3.client("sns", **kw)
sqs = boto3.client("sqs", **kw)


def expect_error(code, fn, **args):
    try:
        fn(**args)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{fn.__name__}: got {got}, want {code}: {e}"
        return
    raise AssertionError(f"{fn.__name__} succeeded; want {code}")


def receive(qurl, n, within=10):
    got, deadline = [], time.time() + within
    while len(got) < n and time.time() < deadline:
        r = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
    return got


arn = sns.create_topic(Name="py-news", Attributes={"DisplayName": "Py"}, Tags=[{"Key": "k", "Value": "v"}])["TopicArn"]
assert arn == "arn:aws:sns:us-east-1:000000000000:py-news", arn
assert sns.create_topic(Name="py-news", Attributes={"DisplayName": "Py"})["TopicArn"] == arn
assert arn in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Python")
assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Python"
sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "tier", "Value": "gold"}])
sns.untag_resource(ResourceArn=arn, TagKeys=["k"])
assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "tier", "Value": "gold"}]

queues = {}
for name in ("py-a", "py-b", "py-raw"):
    qurl = sqs.create_queue(QueueName=name)["QueueUrl"]
    queues[name] = qurl
    attrs = {"RawMessageDelivery": "true"} if name == "py-raw" else {}
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:" + name, Attributes=attrs)
    assert sub["SubscriptionArn"].startswith(arn + ":"), sub
subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
assert len(subs) == 3, subs
assert len(sns.list_subscriptions()["Subscriptions"]) >= 3
sa = sns.get_subscription_attributes(SubscriptionArn=subs[2]["SubscriptionArn"])["Attributes"]
assert sa["RawMessageDelivery"] == "true", sa
sns.set_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"], AttributeName="RawMessageDelivery", AttributeValue="false")

mid = sns.publish(TopicArn=arn, Message="espresso", Subject="s",
                  MessageAttributes={"n": {"DataType": "Number", "StringValue": "3"}})["MessageId"]
for name in ("py-a", "py-b"):
    ms = receive(queues[name], 1)
    assert len(ms) == 1, (name, ms)
    env = json.loads(ms[0]["Body"])
    assert env["Type"] == "Notification" and env["MessageId"] == mid and env["Message"] == "espresso", env
    assert env["MessageAttributes"]["n"] == {"Type": "Number", "Value": "3"}, env
raw = receive(queues["py-raw"], 1)
assert raw[0]["Body"] == "espresso" and raw[0]["MessageAttributes"]["n"]["StringValue"] == "3", raw

r = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[{"Id": f"i{i}", "Message": f"b{i}"} for i in range(10)])
assert len(r["Successful"]) == 10 and not r["Failed"], r
assert len(receive(queues["py-raw"], 10)) == 10

expect_error("NotFound", sns.publish, TopicArn=arn + "-missing", Message="x")
expect_error("InvalidParameter", sns.publish, TopicArn=arn, Message="x" * (256 * 1024 + 1))
expect_error("InvalidParameter", sns.create_topic, Name="bad name")
expect_error("TooManyEntriesInBatchRequest", sns.publish_batch, TopicArn=arn,
             PublishBatchRequestEntries=[{"Id": f"i{i}", "Message": "m"} for i in range(11)])
expect_error("BatchEntryIdsNotDistinct", sns.publish_batch, TopicArn=arn,
             PublishBatchRequestEntries=[{"Id": "same", "Message": "m"}, {"Id": "same", "Message": "n"}])

fifo = sns.create_topic(Name="py-orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
fq = sqs.create_queue(QueueName="py-orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
sns.subscribe(TopicArn=fifo, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:py-orders.fifo",
              Attributes={"RawMessageDelivery": "true"})
expect_error("InvalidParameter", sns.publish, TopicArn=fifo, Message="m", MessageGroupId="g")  # no dedup id
seqs = [sns.publish(TopicArn=fifo, Message=f"m{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")["SequenceNumber"] for i in range(5)]
assert seqs == sorted(seqs), seqs
assert [m["Body"] for m in receive(fq, 5)] == [f"m{i}" for i in range(5)]

h = sns.subscribe(TopicArn=arn, Protocol="https", Endpoint="https://127.0.0.1:1/hook")
assert h["SubscriptionArn"] == "pending confirmation", h
expect_error("InvalidParameter", sns.confirm_subscription, TopicArn=arn, Token="nope")
for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
    if s["SubscriptionArn"].startswith("arn:"):
        sns.unsubscribe(SubscriptionArn=s["SubscriptionArn"])
sns.delete_topic(TopicArn=arn)
sns.delete_topic(TopicArn=fifo)
assert arn not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
print("boto3 SNS conformance: ok")
