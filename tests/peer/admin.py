#!/usr/bin/env python3
"""Admin operations with librdkafka (confluent-kafka).

Input (stdin, JSON): common fields (see peer_common.py) plus "op":
  "create_topics": "topics": [{"name", "partitions" (default 1),
                   "replication_factor" (default 1), "config": {}}]
                   -> {"results": {name: null-or-error-text}}
  "delete_topics": "topics": [name, ...] -> {"results": {name: null-or-error}}
  "metadata":      "topics": [name, ...] (optional), "timeout_s" (default 10)
                   -> {"brokers": [{"id", "host", "port"}],
                       "topics": {name: {"error": ..., "partitions": [id, ...]}}}
                   or, if no metadata came: {"error": text}
Every answer also carries "client_errors": the errors librdkafka reported
out of band (failed connections, failed authentication).
Exit 1 if any result is an error.
"""

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from peer_common import client_config, fail, read_request, reply


def wait_all(futures: dict) -> dict:
    results = {}
    for name, fut in futures.items():
        try:
            fut.result(timeout=30)
            results[name] = None
        except KafkaException as e:
            results[name] = str(e.args[0])
        except Exception as e:  # timeout and friends: still one JSON answer
            results[name] = f"{type(e).__name__}: {e}"
    return results


def main() -> None:
    req = read_request()
    # librdkafka reports connection and authentication failures out of band;
    # collect them so a failing test can say why.
    client_errors = []
    conf = client_config(req)
    conf["error_cb"] = lambda err: client_errors.append(str(err))
    admin = AdminClient(conf)
    op = req.get("op")
    if op == "create_topics":
        new = [
            NewTopic(
                t["name"],
                num_partitions=t.get("partitions", 1),
                replication_factor=t.get("replication_factor", 1),
                config=t.get("config") or {},
            )
            for t in req.get("topics") or []
        ]
        results = wait_all(admin.create_topics(new, operation_timeout=30))
    elif op == "delete_topics":
        results = wait_all(admin.delete_topics(req.get("topics") or [], operation_timeout=30))
    elif op == "metadata":
        topics = req.get("topics") or [None]
        out = {"brokers": [], "topics": {}}
        for topic in topics:
            try:
                meta = admin.list_topics(topic, timeout=req.get("timeout_s", 10))
            except KafkaException as e:
                admin.poll(0.5)  # serves error_cb
                reply({"error": str(e.args[0]), "client_errors": client_errors})
                raise SystemExit(1)
            out["brokers"] = [{"id": b.id, "host": b.host, "port": b.port} for b in meta.brokers.values()]
            for name, t in meta.topics.items():
                out["topics"][name] = {
                    "error": None if t.error is None else str(t.error),
                    "partitions": sorted(t.partitions),
                }
        out["client_errors"] = client_errors
        reply(out)
        return
    else:
        fail(f"unknown op {op!r}: expected create_topics, delete_topics or metadata")
    reply({"results": results, "client_errors": client_errors})
    if any(results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
