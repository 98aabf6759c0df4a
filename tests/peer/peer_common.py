"""Shared plumbing for the peer scripts (produce.py, consume.py, admin.py).

Each script reads ONE JSON object on stdin and writes ONE JSON object on
stdout. Common input fields:
  bootstrap  "HOST:PORT" (required)
  config     extra librdkafka settings, e.g. {"security.protocol": "SSL",
             "ssl.ca.location": "/path/ca.pem"} or the sasl.* settings
Bytes travel as text ("key"/"value", UTF-8) or base64 ("key_b64"/"value_b64").
On failure a script prints {"error": "..."} and exits 1.
"""

import base64
import json
import sys


def read_request() -> dict:
    try:
        req = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        fail(f"stdin is not one JSON object: {e}")
    if not isinstance(req, dict) or "bootstrap" not in req:
        fail('input must be a JSON object with at least "bootstrap"')
    return req


def client_config(req: dict, **defaults) -> dict:
    conf = {"bootstrap.servers": req["bootstrap"], "client.id": "klamm-peer"}
    conf.update(defaults)
    conf.update(req.get("config") or {})
    return conf


def to_bytes(obj: dict, name: str):
    """obj[name] as UTF-8 text, or obj[name + '_b64'] as base64; None if neither."""
    if obj.get(name + "_b64") is not None:
        return base64.b64decode(obj[name + "_b64"])
    if obj.get(name) is not None:
        return obj[name].encode("utf-8")
    return None


def from_bytes(data) -> dict:
    """Both spellings of a byte string, for the caller to pick."""
    if data is None:
        return {"text": None, "b64": None}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"text": text, "b64": base64.b64encode(data).decode("ascii")}


def reply(obj: dict) -> None:
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def fail(message: str) -> None:
    reply({"error": message})
    sys.exit(1)
