#!/usr/bin/env python3
"""Produce N 100-byte records round-robin into a new 4-partition topic with
librdkafka (benchmark setup).  Usage: bench_produce.py BOOTSTRAP TOPIC N"""
import sys, time
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
a = AdminClient({"bootstrap.servers": bs})
for f in a.create_topics([NewTopic(topic, 4, 1)]).values(): f.result()
p = Producer({"bootstrap.servers": bs, "linger.ms": 20, "batch.size": 1000000, "queue.buffering.max.messages": 2000000, "compression.type": "none"})
v = b"x" * 100
t = time.time()
for i in range(n):
    while True:
        try:
            p.produce(topic, v, partition=i % 4); break
        except BufferError:
            p.poll(0.05)
    if i % 10000 == 0: p.poll(0)
left = p.flush(120)
print("produced", n, "left", left, "in", round(time.time()-t,1), "s")
