"""The floor for upload latency: an ASGI app that does only what any server must do with an
upload (read the body, hash it, write it, fsync it, answer 202) and nothing of sohoa's (no
token, catalog, store or queue). The service bench posts the same burst to it, with as many
processes as `sohoa serve` runs, so the two latencies are seen side by side."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

SPOOL = tempfile.mkdtemp(prefix="sohoa-floor-")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    digest = hashlib.sha256()
    fd, path = tempfile.mkstemp(dir=SPOOL)
    with os.fdopen(fd, "wb") as out:
        more = True
        while more:
            message = await receive()
            body = message.get("body", b"")
            digest.update(body)
            out.write(body)
            more = message.get("more_body", False)
        out.flush()
        os.fsync(out.fileno())
    os.replace(path, os.path.join(SPOOL, digest.hexdigest()))
    answer = json.dumps({"jobs": [{"id": digest.hexdigest()}]}).encode()
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer})
