#!/usr/bin/env python3
"""boto3 (SQS JSON protocol) against an Orch SQS endpoint.

Usage: boto3_conformance.py ENDPOINT ACCESS_KEY SECRET_KEY
botocore validates MD5OfMessageBody/MD5OfMessageAttributes on send and receive.
"""
import sys, time, uuid
import boto3
from botocore.exceptions import ClientError

endpoint, ak, sk = sys.argv[1:4]
c = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id=ak, aws_secret_access_key=sk)
failures = []

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (": " + str(detail) if not cond else ""))
    if not cond:
        failures.append(name)

def code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None

name = "boto-" + uuid.uuid4().hex[:8]
# 4 s: long enough that the "invisible while in flight" call comes in time
# on a loaded machine, short enough to wait for the message to come back.
url = c.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "4"})["QueueUrl"]
check("create returns URL", url.endswith("/000000000000/" + name), url)
check("get_queue_url", c.get_queue_url(QueueName=name)["QueueUrl"] == url)
check("list_queues", url in c.list_queues(QueueNamePrefix="boto-").get("QueueUrls", []))

r = c.send_message(QueueUrl=url, MessageBody="héllo \u2603 \r\n",
                   MessageAttributes={"s": {"DataType": "String", "StringValue": "v"},
                                      "n": {"DataType": "Number.int", "StringValue": "42"},
                                      "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}})
check("send MD5 present", len(r["MD5OfMessageBody"]) == 32 and len(r["MD5OfMessageAttributes"]) == 32)

m = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                      AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]
check("receive one", len(m) == 1, m)
msg = m[0]
check("body round trip", msg["Body"] == "héllo \u2603 \r\n", repr(msg["Body"]))
check("binary attribute", msg["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff")
check("system attributes", msg["Attributes"]["ApproximateReceiveCount"] == "1" and "SentTimestamp" in msg["Attributes"])

# Visibility: gone for 4 s, then back with count 2.
check("invisible while in flight", "Messages" not in c.receive_message(QueueUrl=url))
m2 = c.receive_message(QueueUrl=url, WaitTimeSeconds=20, AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
check("visible again after timeout", len(m2) == 1 and m2[0]["Attributes"]["ApproximateReceiveCount"] == "2", m2)
c.change_message_visibility(QueueUrl=url, ReceiptHandle=m2[0]["ReceiptHandle"], VisibilityTimeout=0)
m3 = c.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
check("visibility 0 releases", len(m3) == 1)
c.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])  # stale handle still deletes
a = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
check("deleted by stale handle", a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0", a)

# Batches with per-entry results.
r = c.send_message_batch(QueueUrl=url, Entries=[
    {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 1},
    {"Id": "c", "MessageBody": "bad\x08"}])
check("batch partial", sorted(e["Id"] for e in r["Successful"]) == ["a", "b"] and r["Failed"][0]["Id"] == "c"
      and r["Failed"][0]["Code"] == "InvalidMessageContents", r)
got = []
for _ in range(5):
    for mm in c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", []):
        got.append(mm)
    if len(got) >= 2:
        break
d = c.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": mm["ReceiptHandle"]} for i, mm in enumerate(got)] +
                           [{"Id": "x", "ReceiptHandle": "not-a-handle"}])
check("delete batch", len(d["Successful"]) == 2 and d["Failed"][0]["Code"] == "ReceiptHandleIsInvalid", d)

# Errors.
check("missing queue code", code(lambda: c.get_queue_url(QueueName="nope-" + name)) == "AWS.SimpleQueueService.NonExistentQueue")
check("bad attribute value", code(lambda: c.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "901"})) == "InvalidAttributeValue")
check("too many entries", code(lambda: c.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
check("distinct ids", code(lambda: c.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": "x"}, {"Id": "a", "ReceiptHandle": "y"}])) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
try:
    c.get_queue_url(QueueName="nope-" + name)
except c.exceptions.QueueDoesNotExist:
    check("modeled exception class", True)
except Exception as e:
    check("modeled exception class", False, type(e))

# FIFO.
f = c.create_queue(QueueName=name + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
s1 = c.send_message(QueueUrl=f, MessageBody="first", MessageGroupId="g")
s2 = c.send_message(QueueUrl=f, MessageBody="first", MessageGroupId="g")
check("content dedup", s1["MessageId"] == s2["MessageId"] and "SequenceNumber" in s1)
c.send_message(QueueUrl=f, MessageBody="second", MessageGroupId="g")
fm = c.receive_message(QueueUrl=f, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
check("fifo order", [x["Body"] for x in fm] == ["first", "second"], [x["Body"] for x in fm])
check("fifo attrs", fm[0]["Attributes"]["MessageGroupId"] == "g" and int(fm[1]["Attributes"]["SequenceNumber"]) > int(fm[0]["Attributes"]["SequenceNumber"]))

# Tags, purge, delete.
c.tag_queue(QueueUrl=url, Tags={"k": "v"})
check("tags", c.list_queue_tags(QueueUrl=url).get("Tags") == {"k": "v"})
c.purge_queue(QueueUrl=url)
c.delete_queue(QueueUrl=url)
c.delete_queue(QueueUrl=f)
check("deleted", code(lambda: c.get_queue_url(QueueName=name)) == "AWS.SimpleQueueService.NonExistentQueue")

print("boto3 conformance:", "FAILED " + ", ".join(failures) if failures else "all passed")
sys.exit(1 if failures else 0)
