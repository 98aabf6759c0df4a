"""Broker-side SASL for capture_proxy.py: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.

Why it exists: tansu 0.6.0 with memory storage cannot authenticate anyone
(its memory storage drops SCRAM credentials and PLAIN is not compiled in; see
tests/README.md), so the harness's SASL listener is this gate in front of a
plain tansu. Until a connection has authenticated, the gate reads whole Kafka
frames and:
  - forwards ApiVersions (18) to the broker (tansu offers SaslHandshake v0-1
    and SaslAuthenticate v0-2, the versions answered here);
  - answers SaslHandshake (17) and SaslAuthenticate (36) itself;
  - closes the connection on anything else, as Apache Kafka does.
After a successful authentication it steps aside and the proxy relays bytes.
A failed authentication gets SASL_AUTHENTICATION_FAILED (58), then the
connection is closed. Only SaslHandshake v1 is answered: v0 (raw SASL
tokens without Kafka headers afterwards) predates Kafka 1.0 and gets the
connection closed.

Credentials come from --sasl-user NAME:PASSWORD; SCRAM credentials are
derived at start (random salt, 4096 iterations), as the broker would store
them, and the password itself is not kept for SCRAM.
"""

import base64
import hashlib
import hmac
import os
import struct

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36

NONE = 0
ILLEGAL_SASL_STATE = 34
UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58

SCRAM_HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SCRAM_ITERATIONS = 4096


class AuthFailed(Exception):
    """The client's credentials or messages were wrong: answer 58, then close."""


class ProtocolViolation(Exception):
    """The client sent something not allowed before authentication: close."""


def _hmac(key: bytes, msg: bytes, h) -> bytes:
    return hmac.new(key, msg, h).digest()


class ScramCredential:
    def __init__(self, password: str, h):
        self.h = h
        self.salt = os.urandom(16)
        self.iterations = SCRAM_ITERATIONS
        salted = hashlib.pbkdf2_hmac(h().name, password.encode("utf-8"), self.salt, self.iterations)
        self.stored_key = h(_hmac(salted, b"Client Key", h)).digest()
        self.server_key = _hmac(salted, b"Server Key", h)


class Users:
    """The gate's user table: name -> password (PLAIN) and SCRAM credentials."""

    def __init__(self, specs):
        self.plain = {}
        self.scram = {m: {} for m in SCRAM_HASHES}
        for spec in specs:
            name, sep, password = spec.partition(":")
            if not sep or not name:
                raise ValueError(f"--sasl-user wants NAME:PASSWORD, got {spec!r}")
            self.plain[name] = password
            for mech, h in SCRAM_HASHES.items():
                self.scram[mech][name] = ScramCredential(password, h)


def _scram_attrs(msg: str) -> dict:
    attrs = {}
    for part in msg.split(","):
        if len(part) >= 2 and part[1] == "=":
            attrs[part[0]] = part[2:]
    return attrs


def _scram_name(raw: str) -> str:
    # RFC 5802: "," and "=" in names travel as "=2C" and "=3D".
    return raw.replace("=2C", ",").replace("=3D", "=")


class Session:
    """One SASL exchange: feed client tokens, get server tokens."""

    def __init__(self, mechanism: str, users: Users):
        self.mechanism = mechanism
        self.users = users
        self.step = 0
        self.done = False

    def respond(self, token: bytes) -> bytes:
        if self.mechanism == "PLAIN":
            return self._plain(token)
        return self._scram(token)

    def _plain(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise AuthFailed("malformed PLAIN token")
        authzid, authcid, password = (p.decode("utf-8", "replace") for p in parts)
        if authzid and authzid != authcid:
            raise AuthFailed("PLAIN authorization id differs from the user")
        expected = self.users.plain.get(authcid)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise AuthFailed("Invalid username or password")
        self.done = True
        return b""

    def _scram(self, token: bytes) -> bytes:
        h = SCRAM_HASHES[self.mechanism]
        msg = token.decode("utf-8", "replace")
        if self.step == 0:
            # client-first: gs2 header "n,," or "n,a=authzid," then the bare part.
            if not (msg.startswith("n,") or msg.startswith("y,")):
                raise AuthFailed("SCRAM channel binding is not supported")
            comma = msg.find(",", 2)
            if comma < 0:
                raise AuthFailed("malformed SCRAM client-first message")
            self.gs2 = msg[: comma + 1]
            self.client_first_bare = msg[comma + 1 :]
            attrs = _scram_attrs(self.client_first_bare)
            name = _scram_name(attrs.get("n", ""))
            cnonce = attrs.get("r")
            if not cnonce:
                raise AuthFailed("SCRAM client-first without a nonce")
            self.cred = self.users.scram[self.mechanism].get(name)
            # Unknown users go through the motions with a throwaway
            # credential so the answer does not reveal who exists.
            if self.cred is None:
                self.cred = ScramCredential(os.urandom(8).hex(), h)
                self.unknown = True
            else:
                self.unknown = False
            self.nonce = cnonce + base64.b64encode(os.urandom(18)).decode()
            self.server_first = "r=%s,s=%s,i=%d" % (
                self.nonce,
                base64.b64encode(self.cred.salt).decode(),
                self.cred.iterations,
            )
            self.step = 1
            return self.server_first.encode()
        if self.step == 1:
            attrs = _scram_attrs(msg)
            if attrs.get("r") != self.nonce:
                raise AuthFailed("SCRAM nonce mismatch")
            if attrs.get("c") != base64.b64encode(self.gs2.encode()).decode():
                raise AuthFailed("SCRAM channel binding mismatch")
            if ",p=" not in msg:
                raise AuthFailed("SCRAM client-final without a proof")
            without_proof = msg[: msg.rindex(",p=")]
            auth_message = ",".join([self.client_first_bare, self.server_first, without_proof]).encode()
            try:
                proof = base64.b64decode(attrs["p"], validate=True)
            except (ValueError, KeyError):
                raise AuthFailed("SCRAM proof is not base64")
            signature = _hmac(self.cred.stored_key, auth_message, h)
            if len(proof) != len(signature):
                raise AuthFailed("Invalid username or password")
            client_key = bytes(a ^ b for a, b in zip(proof, signature))
            if self.unknown or not hmac.compare_digest(h(client_key).digest(), self.cred.stored_key):
                raise AuthFailed("Invalid username or password")
            self.step = 2
            self.done = True
            server_signature = _hmac(self.cred.server_key, auth_message, h)
            return b"v=" + base64.b64encode(server_signature)
        raise AuthFailed("SCRAM exchange already finished")


# --- Kafka framing for the three APIs the gate speaks -----------------------


def _uvarint(data: bytes, pos: int):
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise ProtocolViolation("bad unsigned varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _put_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _skip_tagged(data: bytes, pos: int) -> int:
    count, pos = _uvarint(data, pos)
    for _ in range(count):
        _, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        pos += size
    if pos > len(data):
        raise ProtocolViolation("tagged fields overrun the frame")
    return pos


def parse_request(payload: bytes):
    """api_key, api_version, correlation_id, body offset (header v1 or v2)."""
    if len(payload) < 10:
        raise ProtocolViolation("request shorter than its header")
    api_key, api_version, correlation_id, client_len = struct.unpack_from(">hhih", payload, 0)
    pos = 10 + max(client_len, 0)
    if pos > len(payload):
        raise ProtocolViolation("client id overruns the frame")
    if api_key == SASL_AUTHENTICATE and api_version >= 2:
        pos = _skip_tagged(payload, pos)  # flexible: request header v2
    return api_key, api_version, correlation_id, pos


def _string(s) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def handshake_response(correlation_id: int, error: int) -> bytes:
    body = struct.pack(">ih", correlation_id, error) + struct.pack(">i", len(MECHANISMS))
    body += b"".join(_string(m) for m in MECHANISMS)
    return body


def authenticate_response(correlation_id: int, version: int, error: int, message, token: bytes) -> bytes:
    if version >= 2:
        # Flexible: response header v1 (tagged fields), compact fields.
        out = struct.pack(">i", correlation_id) + b"\x00" + struct.pack(">h", error)
        if message is None:
            out += b"\x00"
        else:
            m = message.encode()
            out += _put_uvarint(len(m) + 1) + m
        out += _put_uvarint(len(token) + 1) + token
        out += struct.pack(">q", 0) + b"\x00"
        return out
    out = struct.pack(">ih", correlation_id, error) + _string(message)
    out += struct.pack(">i", len(token)) + token
    if version >= 1:
        out += struct.pack(">q", 0)
    return out


def read_auth_bytes(payload: bytes, pos: int, version: int) -> bytes:
    if version >= 2:
        n, pos = _uvarint(payload, pos)
        n -= 1
    else:
        if pos + 4 > len(payload):
            raise ProtocolViolation("SaslAuthenticate without auth bytes")
        (n,) = struct.unpack_from(">i", payload, pos)
        pos += 4
    if n < 0 or pos + n > len(payload):
        raise ProtocolViolation("auth bytes overrun the frame")
    return payload[pos : pos + n]


class Gate:
    """Per-connection state. feed() takes one client frame payload and says
    what to do: ("forward", None), ("reply", payload), ("reply_close",
    payload) or ("close", None). authenticated turns True on success."""

    def __init__(self, users: Users):
        self.users = users
        self.session = None
        self.authenticated = False

    def feed(self, payload: bytes):
        try:
            api_key, version, cid, pos = parse_request(payload)
            if api_key == API_VERSIONS:
                return "forward", None
            if api_key == SASL_HANDSHAKE and version == 1 and self.session is None:
                return self._handshake(payload, pos, version, cid)
            if api_key == SASL_AUTHENTICATE and version in (0, 1, 2) and self.session is not None:
                return self._authenticate(payload, pos, version, cid)
            return "close", None
        except ProtocolViolation:
            return "close", None

    def _handshake(self, payload, pos, version, cid):
        if pos + 2 > len(payload):
            raise ProtocolViolation("SaslHandshake without a mechanism")
        (n,) = struct.unpack_from(">h", payload, pos)
        mechanism = payload[pos + 2 : pos + 2 + max(n, 0)].decode("utf-8", "replace")
        if mechanism not in MECHANISMS:
            return "reply_close", handshake_response(cid, UNSUPPORTED_SASL_MECHANISM)
        self.session = Session(mechanism, self.users)
        return "reply", handshake_response(cid, NONE)

    def _authenticate(self, payload, pos, version, cid):
        token = read_auth_bytes(payload, pos, version)
        try:
            answer = self.session.respond(token)
        except AuthFailed as e:
            msg = f"Authentication failed during authentication due to: {e}"
            return "reply_close", authenticate_response(cid, version, SASL_AUTHENTICATION_FAILED, msg, b"")
        self.authenticated = self.session.done
        return "reply", authenticate_response(cid, version, NONE, None, answer)
