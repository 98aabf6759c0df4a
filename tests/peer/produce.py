#!/usr/bin/env python3
"""Produce records with librdkafka (confluent-kafka) and report where they went.

Input (stdin, JSON): common fields (see peer_common.py) plus
  topic             topic name
  records           [{"key"|"key_b64", "value"|"value_b64",
                      "headers": [[name, text-or-null], ...],
                      "partition": int (optional), "timestamp_ms": int (optional)}]
  flush_timeout_s   default 30
Output: {"delivered": [{"partition": p, "offset": o, "error": null-or-text}, ...]}
in input order. Exit 1 if any record failed or flush timed out.
"""

from confluent_kafka import Producer

from peer_common import client_config, fail, read_request, reply, to_bytes


def main() -> None:
    req = read_request()
    records = req.get("records") or []
    producer = Producer(client_config(req, **{"linger.ms": 5}))
    results = [None] * len(records)

    def on_delivery(index):
        def callback(err, msg):
            results[index] = {
                "partition": msg.partition(),
                "offset": msg.offset(),
                "error": None if err is None else str(err),
            }

        return callback

    for i, rec in enumerate(records):
        headers = [(h[0], None if h[1] is None else h[1].encode("utf-8")) for h in rec.get("headers") or []]
        kwargs = {"key": to_bytes(rec, "key"), "value": to_bytes(rec, "value"), "on_delivery": on_delivery(i)}
        if headers:
            kwargs["headers"] = headers
        if rec.get("partition") is not None:
            kwargs["partition"] = rec["partition"]
        if rec.get("timestamp_ms") is not None:
            kwargs["timestamp"] = rec["timestamp_ms"]
        producer.produce(req["topic"], **kwargs)
        producer.poll(0)

    left = producer.flush(req.get("flush_timeout_s", 30))
    if left:
        fail(f"{left} records still undelivered after flush timeout")
    out = {"delivered": results}
    reply(out)
    if any(r is None or r["error"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
