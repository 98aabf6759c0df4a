#!/usr/bin/env python3
"""Ask a Kafka broker for its ApiVersions (v0) with a hand-built request.

Used by the harness to tell when a broker it started is ready. Standard
library only, so it works before any peer venv exists.

Exit status 0 when the broker answered with error code 0 and at least one API;
1 otherwise, with one line on stderr saying why. --json prints the answer as
[{"api_key": 0, "min_version": 0, "max_version": 11}, ...] on stdout.
"""

import argparse
import json
import socket
import ssl
import struct
import sys

API_VERSIONS_KEY = 18
CORRELATION_ID = 0x4B4C4D4D  # "KLMM": easy to spot in a capture


def request_frame(client_id: bytes) -> bytes:
    # Request header v1: api_key, api_version, correlation_id, client_id
    # (nullable string, int16 length). ApiVersions v0 has an empty body.
    header = struct.pack(">hhih", API_VERSIONS_KEY, 0, CORRELATION_ID, len(client_id))
    body = header + client_id
    return struct.pack(">i", len(body)) + body


def read_exact(sock, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def parse_response(payload: bytes):
    """Response header v0 (correlation id) + ApiVersions v0 body."""
    if len(payload) < 10:
        raise ValueError(f"response too short: {len(payload)} bytes")
    correlation_id, error_code, count = struct.unpack_from(">ihi", payload, 0)
    if correlation_id != CORRELATION_ID:
        raise ValueError(f"wrong correlation id {correlation_id}")
    if count < 0 or 10 + 6 * count > len(payload):
        raise ValueError(f"api count {count} does not fit {len(payload)} bytes")
    apis = []
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", payload, 10 + 6 * i)
        apis.append({"api_key": key, "min_version": lo, "max_version": hi})
    return error_code, apis


def probe(host: str, port: int, timeout: float, tls_ca: str | None):
    raw = socket.create_connection((host, port), timeout=timeout)
    sock = raw
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        sock = ctx.wrap_socket(raw, server_hostname=host)
    try:
        sock.sendall(request_frame(b"klamm-probe"))
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        if size < 0 or size > 1 << 20:
            raise ValueError(f"implausible response size {size}")
        return parse_response(read_exact(sock, size))
    finally:
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="HOST:PORT")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--tls-ca", help="CA file: connect with TLS and verify against it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    host, _, port = args.address.rpartition(":")
    try:
        error_code, apis = probe(host, int(port), args.timeout, args.tls_ca)
    except (OSError, ValueError, struct.error) as e:
        print(f"ApiVersions probe of {args.address} failed: {e}", file=sys.stderr)
        return 1
    if error_code != 0 or not apis:
        print(
            f"ApiVersions probe of {args.address}: error code {error_code}, {len(apis)} APIs",
            file=sys.stderr,
        )
        return 1
    if args.json:
        json.dump(apis, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
