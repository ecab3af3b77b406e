"""A key's last value, read as nats-py's `KeyValue.get` reads it, for less client CPU.

Every `Bus.get_json` reads through it, and so do the claim and proof-of-work stores: the
api reads a key or two on each of a crowd's requests (a queue token's view, a claim, a
challenge). nats-py's `get` builds its JetStream request with `json.dumps`,
turns the answer into a `RawStreamMsg` (parsing the stored time), and parses the stored
message's headers with the standard library's e-mail parser, only to look for
`KV-Operation`: about half of a read's client CPU in the crowd's profile. `get` here sends
the same request to the same place (`$JS.API.STREAM.MSG.GET`, answered by the stream's
leader, so reads stay as fresh as before), and reads the answer directly.

It uses nats-py's private `KeyValue._js`, `_stream`, `_pre`, `_direct` and the manager's
`_prefix`, `_nc`, `_timeout`: recheck on a nats-py upgrade
(`tests/integration/test_kv_read.py` compares every outcome with `KeyValue.get`).
"""

from __future__ import annotations

import base64
import json
from json.encoder import encode_basestring_ascii

from nats.errors import NoRespondersError
from nats.js.errors import (
    APIError,
    InvalidKeyError,
    KeyNotFoundError,
    NotFoundError,
    ServiceUnavailableError,
)
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue, _is_key_valid

_OP_NAME = KV_OP.encode()
_REMOVALS = {KV_DEL.encode(), KV_PURGE.encode()}


async def get(kv: KeyValue, key: str) -> KeyValue.Entry:
    """`kv.get(key)`: the entry, or `KeyNotFoundError` (its `op` set when the key was
    deleted or purged); other JetStream errors as nats-py raises them."""
    if kv._direct:
        return await kv.get(key)  # answered by any replica: nats-py's own path
    if not _is_key_valid(key):
        raise InvalidKeyError
    js = kv._js
    subject = f"{kv._pre}{key}"
    # json.dumps with separators makes an encoder per call; the string alone is quoted alike.
    request = f'{{"last_by_subj":{encode_basestring_ascii(subject)}}}'.encode()
    try:
        msg = await js._nc.request(
            f"{js._prefix}.STREAM.MSG.GET.{kv._stream}", request, timeout=js._timeout
        )
    except NoRespondersError as exc:
        raise ServiceUnavailableError from exc
    answer = json.loads(msg.data)
    if "error" in answer:
        try:
            APIError.from_error(answer["error"])
        except NotFoundError:
            raise KeyNotFoundError from None
    stored = answer["message"]
    if stored.get("subject") != subject:
        raise KeyNotFoundError(message=f"expected '{subject}', but got '{stored.get('subject')}'")
    data = stored.get("data")
    entry = KeyValue.Entry(
        bucket=kv._name,
        key=key,
        value=base64.b64decode(data) if data else None,
        revision=stored.get("seq"),
        delta=None,
        created=None,
        operation=None,
    )
    op = _removal(stored.get("hdrs"))
    if op is not None:
        raise KeyNotFoundError(entry, op)
    return entry


def _removal(hdrs: str | None) -> str | None:
    """KV_DEL or KV_PURGE when the stored message's headers mark the key removed."""
    if not hdrs:
        return None
    raw = base64.b64decode(hdrs)
    if _OP_NAME not in raw:
        return None
    # As nats-py's parsed headers are looked up: the name exactly, the value trimmed.
    for line in raw.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name == _OP_NAME and value.strip() in _REMOVALS:
            return value.strip().decode()
    return None
