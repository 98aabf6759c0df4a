#!/usr/bin/env python3
"""A TCP relay between Kafka clients and a broker that can record every frame
and terminate TLS.

    capture_proxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:9092 [--out DIR]
                     [--tls-cert CERT.pem --tls-key KEY.pem] [--sasl-user NAME:PASSWORD ...]
                     [--port-file FILE]

Once listening it prints one JSON line on stdout: {"listening": "HOST:PORT"}
(and writes HOST:PORT to --port-file if given).

With --out DIR every Kafka frame is recorded:
  DIR/frames.jsonl  one JSON object per frame, in the order the proxy saw them:
      seq            global frame counter (1, 2, ...)
      conn           connection counter (1, 2, ...)
      dir            "c2s" (client to broker) or "s2c" (broker to client)
      api_key        request's API key (for s2c: of the request with that
                     correlation id on this connection; null if unknown)
      api_version    likewise
      correlation_id from the frame (int32 after the size for s2c, at offset 4
                     for c2s; null if the frame is too short)
      client_id      c2s only: the request header's client id, or null
      size           payload length in bytes (the 4-byte size prefix excluded)
      file           raw payload file, relative to DIR (size prefix excluded)
      hex            payload as hex when size <= 65536, else null
  DIR/NNNNNN-c2s-kKK-vVV-cidC.bin  the raw payloads.
Responses carry no API key on the wire; the proxy pairs them with requests by
correlation id per connection. SASL after a SaslHandshake v0 sends raw tokens
that are not Kafka headers: such frames show api_key null or nonsense.

Clients learn broker addresses from Metadata: to keep them on the proxy, start
the broker with its advertised listener set to the proxy's address (the
harness's scripts/capture.sh does that).

With --tls-cert/--tls-key the proxy accepts TLS from clients and speaks plain
TCP to the broker (the harness uses this as the TLS listener: tansu 0.6.0
accepts --cert/--key but never wraps its sockets in TLS).

With --sasl-user the proxy requires SASL authentication (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512) before it relays anything but ApiVersions; see
sasl_gate.py. The gate's own SaslHandshake/SaslAuthenticate answers are
recorded like broker frames.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import struct
import sys

import sasl_gate

HEX_LIMIT = 65536


class Recorder:
    """Writes frames.jsonl and the raw payload files; one per proxy."""

    def __init__(self, out_dir: str):
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir = out_dir
        self.seq = 0
        self.index = open(os.path.join(out_dir, "frames.jsonl"), "a", buffering=1)

    def record(self, conn, direction, payload, api_key, api_version, correlation_id, client_id):
        self.seq += 1
        name = "%06d-%s-k%s-v%s-cid%s.bin" % (
            self.seq,
            direction,
            "x" if api_key is None else api_key,
            "x" if api_version is None else api_version,
            "x" if correlation_id is None else correlation_id,
        )
        with open(os.path.join(self.out_dir, name), "wb") as f:
            f.write(payload)
        entry = {
            "seq": self.seq,
            "conn": conn,
            "dir": direction,
            "api_key": api_key,
            "api_version": api_version,
            "correlation_id": correlation_id,
            "client_id": client_id,
            "size": len(payload),
            "file": name,
            "hex": payload.hex() if len(payload) <= HEX_LIMIT else None,
        }
        self.index.write(json.dumps(entry) + "\n")


def parse_request_header(payload: bytes):
    """api_key, api_version, correlation_id, client_id of a request payload."""
    if len(payload) < 8:
        return None, None, None, None
    api_key, api_version, correlation_id = struct.unpack_from(">hhi", payload, 0)
    client_id = None
    if len(payload) >= 10:
        (n,) = struct.unpack_from(">h", payload, 8)
        if 0 <= n <= len(payload) - 10:
            client_id = payload[10 : 10 + n].decode("utf-8", "replace")
    return api_key, api_version, correlation_id, client_id


class Connection:
    """One client connection: two pumps, and the correlation ids in flight."""

    def __init__(self, conn_id: int, recorder, gate):
        self.conn_id = conn_id
        self.recorder = recorder
        self.gate = gate
        self.in_flight = {}

    async def pump(self, reader, writer, direction, client_writer=None):
        buf = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if direction == "c2s" and self.gate is not None and not self.gate.authenticated:
                    # Until SASL succeeds, whole frames go through the gate.
                    buf = self.through_gate(buf + data, writer, client_writer)
                    if buf is None:
                        break
                    if not self.gate.authenticated or not buf:
                        await writer.drain()
                        await client_writer.drain()
                        continue
                    data, buf = buf, b""
                writer.write(data)
                if self.recorder is not None:
                    buf += data
                    buf = self.split_frames(buf, direction)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            for w in (writer, client_writer):
                try:
                    if w is not None:
                        w.close()
                except Exception:
                    pass

    def through_gate(self, buf: bytes, broker_writer, client_writer):
        """Handles complete client frames before authentication. Returns the
        bytes not consumed yet, or None when the connection must close."""
        while len(buf) >= 4 and not self.gate.authenticated:
            (size,) = struct.unpack_from(">i", buf, 0)
            if size < 0:
                return None
            if len(buf) < 4 + size:
                break
            frame, payload, buf = buf[: 4 + size], buf[4 : 4 + size], buf[4 + size :]
            if self.recorder is not None:
                self.on_frame(payload, "c2s")
            action, reply = self.gate.feed(payload)
            if action == "forward":
                broker_writer.write(frame)
                continue
            if action in ("reply", "reply_close"):
                client_writer.write(struct.pack(">i", len(reply)) + reply)
                if self.recorder is not None:
                    self.on_frame(reply, "s2c")
            if action != "reply":
                return None
        return buf

    def split_frames(self, buf: bytes, direction: str) -> bytes:
        while len(buf) >= 4:
            (size,) = struct.unpack_from(">i", buf, 0)
            if size < 0:
                # Not Kafka framing; stop recording this direction's garbage.
                return b""
            if len(buf) < 4 + size:
                break
            self.on_frame(buf[4 : 4 + size], direction)
            buf = buf[4 + size :]
        return buf

    def on_frame(self, payload: bytes, direction: str):
        if direction == "c2s":
            api_key, api_version, cid, client_id = parse_request_header(payload)
            if cid is not None:
                self.in_flight[cid] = (api_key, api_version)
        else:
            client_id = None
            cid = struct.unpack_from(">i", payload, 0)[0] if len(payload) >= 4 else None
            api_key, api_version = self.in_flight.pop(cid, (None, None))
        self.recorder.record(self.conn_id, direction, payload, api_key, api_version, cid, client_id)


async def serve(args):
    up_host, _, up_port = args.upstream.rpartition(":")
    recorder = Recorder(args.out) if args.out else None
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    users = sasl_gate.Users(args.sasl_user) if args.sasl_user else None
    counter = 0

    async def handle(client_reader, client_writer):
        nonlocal counter
        counter += 1
        conn = Connection(counter, recorder, sasl_gate.Gate(users) if users else None)
        try:
            broker_reader, broker_writer = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            conn.pump(client_reader, broker_writer, "c2s", client_writer),
            conn.pump(broker_reader, client_writer, "s2c"),
        )

    host, _, port = args.listen.rpartition(":")
    server = await asyncio.start_server(handle, host, int(port), ssl=tls)
    bound = server.sockets[0].getsockname()
    address = f"{bound[0]}:{bound[1]}"
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(address + "\n")
        os.replace(tmp, args.port_file)
    print(json.dumps({"listening": address}), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free port)")
    parser.add_argument("--upstream", required=True, help="broker HOST:PORT")
    parser.add_argument("--out", help="record frames into this directory")
    parser.add_argument("--tls-cert", help="PEM certificate: accept TLS from clients")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument(
        "--sasl-user",
        action="append",
        metavar="NAME:PASSWORD",
        help="require SASL (PLAIN, SCRAM-SHA-256/512) before relaying; repeatable",
    )
    parser.add_argument("--port-file", help="write the bound HOST:PORT here once listening")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
