#!/usr/bin/env python3
"""Writes a seed corpus for the decode_message target from the golden
frames in protocol/tests/fixtures/messages (header stripped, target prefix
added: API index, version, request/response flag).

    python3 fuzz/seeds_from_fixtures.py [OUT_DIR]     (default fuzz/corpus/decode_message)
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "protocol", "tests", "fixtures", "messages")
# First flexible version per API key (from the schemas) for the ones captured.
FIRST_FLEXIBLE = {0: 9, 1: 12, 2: 6, 3: 9, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4,
                  18: 3, 19: 5, 22: 2}


def uvarint_len(data, off):
    n = 0
    while data[off + n] & 0x80:
        n += 1
    return n + 1


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "decode_message")
    os.makedirs(out, exist_ok=True)
    count = 0
    for name in sorted(os.listdir(FIXTURES)):
        if not name.endswith(".hex"):
            continue
        meta, hexdata = {}, []
        for line in open(os.path.join(FIXTURES, name)):
            if line.startswith("# "):
                k, _, v = line[2:].strip().partition(": ")
                meta[k] = v
            else:
                hexdata.append(line)
        data = bytes.fromhex(" ".join(hexdata))
        key, version = int(meta["api_key"]), int(meta["api_version"])
        flexible = version >= FIRST_FLEXIBLE.get(key, 1 << 15)
        if meta["direction"] == "request":
            (client_len,) = struct.unpack(">h", data[8:10])
            off = 10 + max(client_len, 0)
            if flexible:
                off += uvarint_len(data, off)
            flag = 0
        else:
            off = 4 + (uvarint_len(data, 4) if flexible and key != 18 else 0)
            flag = 1
        # API index = key: ApiKey::ALL lists keys 0..=87 in order.
        seed = bytes([key, version, flag]) + data[off:]
        with open(os.path.join(out, name[:-4]), "wb") as f:
            f.write(seed)
        count += 1
    print(f"wrote {count} seeds to {out}")


main()
