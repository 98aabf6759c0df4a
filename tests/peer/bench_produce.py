#!/usr/bin/env python3
"""Produce throughput of librdkafka (confluent-kafka) for comparison with
Klamm's producer benchmark (tests/benches/producer.rs).

Input (stdin, JSON): common fields (see peer_common.py) plus
  topic        topic name (must exist)
  count        records to send (default 1000000)
  value_size   bytes per value (default 100)
  compression  compression.type (default "none")
Output: {"records_per_s", "cpu_s_per_million", "peak_rss_mib",
         "p50_ms", "p99_ms", "failed"}

Settings match the Klamm benchmark: acks=1, linger.ms=5. This is the
BaseProducer style (poll-driven delivery callbacks); the Python call per
record adds overhead that a C or Rust caller of librdkafka would not pay, so
treat the figures as a lower bound for librdkafka itself.
"""

import resource
import time

from confluent_kafka import Producer

from peer_common import client_config, read_request, reply


def main() -> None:
    req = read_request()
    topic = req["topic"]
    count = int(req.get("count", 1_000_000))
    value = b"x" * int(req.get("value_size", 100))
    conf = client_config(
        req,
        **{
            "acks": "1",
            "linger.ms": 5,
            "compression.type": req.get("compression", "none"),
            "queue.buffering.max.messages": 1_000_000,
        },
    )
    producer = Producer(conf)
    lat = []
    failed = [0]

    def on_delivery(sent):
        def callback(err, _msg):
            if err is not None:
                failed[0] += 1
            else:
                lat.append(time.monotonic() - sent)

        return callback

    # Warm up metadata and the connection.
    producer.produce(topic, value=value)
    producer.flush(30)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    for i in range(count):
        t = time.monotonic()
        while True:
            try:
                producer.produce(topic, value=value, on_delivery=on_delivery(t))
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(120)
    elapsed = time.monotonic() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    lat.sort()

    def pct(p):
        return round(lat[round((len(lat) - 1) * p)] * 1000, 2) if lat else None

    reply(
        {
            "records_per_s": round(count / elapsed),
            "cpu_s_per_million": round(cpu * 1_000_000 / count, 2),
            "peak_rss_mib": round(usage1.ru_maxrss / 1024, 1),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "failed": failed[0],
        }
    )


if __name__ == "__main__":
    main()
