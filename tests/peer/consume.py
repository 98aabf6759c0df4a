#!/usr/bin/env python3
"""Consume records with librdkafka (confluent-kafka).

Input (stdin, JSON): common fields (see peer_common.py) plus
  topic        topic name
  count        stop after this many records
  timeout_s    stop after this long even if fewer arrived (default 30)
  group        consumer group id: subscribe through the group protocol and
               commit; absent: assign every partition from the beginning,
               no group
  partitions   with no group: only these partitions (default: all)
Output: {"records": [{"topic", "partition", "offset", "timestamp_ms",
          "key", "key_b64", "value", "value_b64", "headers": [[name, text-or-null]]}],
         "timed_out": bool}
Tests assert on "timed_out" and the records; the script does not judge.
"""

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from peer_common import client_config, fail, from_bytes, read_request, reply


def main() -> None:
    req = read_request()
    topic = req["topic"]
    count = int(req.get("count", 1))
    timeout_s = float(req.get("timeout_s", 30))
    group = req.get("group")
    conf = client_config(
        req,
        **{
            "group.id": group or f"klamm-peer-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": bool(group),
            # tansu sleeps about half of fetch.wait.max.ms even when data is ready.
            "fetch.wait.max.ms": 10,
        },
    )
    consumer = Consumer(conf)
    if group:
        consumer.subscribe([topic])
    else:
        meta = consumer.list_topics(topic, timeout=10)
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None:
            fail(f"topic {topic}: {None if tmeta is None else tmeta.error}")
        parts = req.get("partitions") or sorted(tmeta.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])

    records = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            msg = consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
            if msg is None:
                continue
            if msg.error():
                if msg.error().retriable() or not msg.error().fatal():
                    continue
                raise KafkaException(msg.error())
            key, value = from_bytes(msg.key()), from_bytes(msg.value())
            records.append(
                {
                    "topic": msg.topic(),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "timestamp_ms": msg.timestamp()[1],
                    "key": key["text"],
                    "key_b64": key["b64"],
                    "value": value["text"],
                    "value_b64": value["b64"],
                    "headers": [
                        [k, None if v is None else v.decode("utf-8", "replace")] for k, v in msg.headers() or []
                    ],
                }
            )
    except KafkaException as e:
        fail(str(e))
    finally:
        consumer.close()
    reply({"records": records, "timed_out": len(records) < count})


if __name__ == "__main__":
    main()
