#!/usr/bin/env python3
"""Consume N records from partitions 0..P-1 of TOPIC from the beginning with
librdkafka and print records/s (compare with klamm's consume_count example).
Usage: bench_consume.py BOOTSTRAP TOPIC P N"""
import sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
bs, topic, parts, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = Consumer({"bootstrap.servers": bs, "group.id": "bench-rdk", "enable.auto.commit": False, "fetch.wait.max.ms": 10})
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(parts)])
t = time.time(); count = 0; nbytes = 0
while count < n:
    msgs = c.consume(500, 10)
    if not msgs: print("stalled at", count); break
    for m in msgs:
        if m.error(): continue
        nbytes += len(m.value()); count += 1
secs = time.time() - t
print(f"librdkafka: {count} records, {nbytes} value bytes in {secs:.2f} s = {count/secs:.0f} records/s")
c.close()
