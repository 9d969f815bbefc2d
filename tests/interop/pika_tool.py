#!/usr/bin/env python3
"""The third-party side of warren's interop tests: pika publishes and reads messages on the wire.

  pika_tool.py publish URL QUEUE     publish one message carrying every property and field type
  pika_tool.py check   URL QUEUE KIND   get one message published by warren (KIND = rust | js) and check
                                        the exact type tags and values pika sees; exit 1 on mismatch

pika cannot encode floats or the narrower integer types, so `publish` injects those as raw tagged
bytes; pika decodes floats wrongly (it truncates them), so `check` reads every tag itself.
"""
import datetime
import decimal
import json
import struct
import sys

import pika
import pika.data


class Raw:
    """A value pika should write verbatim after its type tag."""

    def __init__(self, tag, payload):
        self.tag, self.payload = tag, payload


_encode = pika.data.encode_value


def encode_value(pieces, value):
    if isinstance(value, Raw):
        pieces.append(value.tag + value.payload)
        return len(value.tag) + len(value.payload)
    return _encode(pieces, value)


pika.data.encode_value = encode_value

_decode = pika.data.decode_value


def decode_value(encoded, offset):
    """Returns (tag, value) instead of value; nested arrays/tables come back tagged too."""
    kind = encoded[offset:offset + 1].decode()
    if kind == "f":
        return (kind, struct.unpack_from(">f", encoded, offset + 1)[0]), offset + 5
    if kind == "d":
        return (kind, struct.unpack_from(">d", encoded, offset + 1)[0]), offset + 9
    value, end = _decode(encoded, offset)
    return (kind, value), end


# Values pika publishes: what warren must read back (see tests/native/interop.rs and tests/interop/interop.js).
PROPS = dict(
    content_type="application/json",
    content_encoding="identity",
    delivery_mode=2,
    priority=0,
    correlation_id="corr-42",
    reply_to="reply.queue",
    expiration="60000",
    message_id="msg-7",
    timestamp=1700000000,
    type="interop.kind",
    user_id="guest",
    app_id="pika-interop",
    cluster_id="cluster-9",
)


def published_headers():
    return {
        "str": "h\u00e9llo \U0001f600",
        "not_utf8": Raw(b"S", struct.pack(">I", 2) + b"\xff\xfe"),
        "bytes": b"\x00\x01\xfe",
        "yes": True,
        "no": False,
        "i8": Raw(b"b", struct.pack(">b", -5)),
        "u8": Raw(b"B", struct.pack(">B", 200)),
        "i16": Raw(b"s", struct.pack(">h", -300)),
        "u16": Raw(b"u", struct.pack(">H", 60000)),
        "i32": -70000,
        "u32": Raw(b"i", struct.pack(">I", 4000000000)),
        "i64": 2**40,
        "i64_big": 2**60,
        "i64_min": -(2**63),
        "f32": Raw(b"f", struct.pack(">f", 1.5)),
        "f64": Raw(b"d", struct.pack(">d", -2.25)),
        "dec": Raw(b"D", struct.pack(">Bi", 2, -12345)),
        "ts": datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc),
        "void": None,
        "arr": [1, "two", [True]],
        "tbl": {"k": "v", "inner": {"deep": 2**33}},
    }


def connect(url):
    return pika.BlockingConnection(pika.URLParameters(url))


def publish(url, queue):
    conn = connect(url)
    ch = conn.channel()
    ch.queue_declare(queue, auto_delete=False)
    props = pika.BasicProperties(headers=published_headers(), **PROPS)
    ch.basic_publish("", queue, b"from pika \x00\xff", props)
    conn.close()


# What warren publishes (tests/native/interop.rs for KIND=rust, interop.js for KIND=js), as (tag, value).
EXPECTED = {
    "rust": {
        "i8": ("b", -5), "u8": ("B", 200), "i16": ("s", -300), "u16": ("u", 60000),
        "i32": ("I", -70000), "u32": ("i", 4000000000), "i64": ("l", -(2**62)),
        "f32": ("f", 1.5), "f64": ("d", -2.25), "dec": ("D", decimal.Decimal("-123.45")),
        "str": ("S", "h\u00e9llo"), "bytes": ("x", b"\x00\xff"), "yes": ("t", True),
        "ts": ("T", datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)),
        "void": ("V", None), "arr": ("A", [("I", 1), ("S", "two")]),
        "tbl": ("F", {"k": ("S", "v")}),
    },
    "js": {
        "str": ("S", "h\u00e9llo"), "yes": ("t", True), "no": ("t", False),
        "int": ("I", -7), "int_max": ("I", 2147483647), "beyond_i32": ("l", 2**40),
        "bigint": ("l", 2**60), "bigint_min": ("l", -(2**63)), "float": ("d", 1.5),
        "date": ("T", datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)),
        "bytes": ("x", b"\x00\xff"), "nil": ("V", None),
        "arr": ("A", [("I", 1), ("S", "two"), ("A", [("t", True)])]),
        "obj": ("F", {"k": ("S", "v"), "n": ("d", 0.5)}),
    },
}

EXPECTED_PROPS = {
    "content_type": "text/plain", "delivery_mode": 2, "priority": 0, "correlation_id": "c-1",
    "reply_to": "r", "expiration": "600000", "message_id": "m-1", "timestamp": 1700000000, "type": "t",
    "user_id": "guest", "app_id": "warren", "cluster_id": "cl",
}


def check(url, queue, kind):
    pika.data.decode_value = decode_value
    conn = connect(url)
    ch = conn.channel()
    method, props, body = None, None, None
    for _ in range(50):  # the publisher has confirmed before we run; a short retry covers routing lag
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method:
            break
        conn.sleep(0.1)
    ch.queue_delete(queue)
    conn.close()
    problems = []
    if not method:
        problems.append("no message in queue")
    else:
        if body != b"from warren":
            problems.append(f"body {body!r}")
        for k, v in EXPECTED_PROPS.items():
            if getattr(props, k) != v:
                problems.append(f"property {k}: {getattr(props, k)!r} != {v!r}")
        got = props.headers or {}
        want = EXPECTED[kind]
        if set(got) != set(want):
            problems.append(f"header keys {sorted(got)} != {sorted(want)}")
        for k, v in want.items():
            if k in got and got[k] != v:
                problems.append(f"header {k}: pika saw {got[k]!r}, expected {v!r}")
    print(json.dumps({"ok": not problems, "problems": problems}, default=str))
    return 0 if not problems else 1


if __name__ == "__main__":
    cmd, url, queue = sys.argv[1:4]
    if cmd == "publish":
        publish(url, queue)
        sys.exit(0)
    if cmd == "check":
        sys.exit(check(url, queue, sys.argv[4]))
    sys.exit(f"unknown command {cmd}")
