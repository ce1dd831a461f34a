#!/usr/bin/env python3
"""An SMTP server for the mail tests: aiosmtpd on loopback, every message kept as a file.

    python3 tests/mail/smtp_sink.py DIR [PORT]

Listens on 127.0.0.1:PORT (0 or absent: a free port), prints `listening PORT` once it accepts
connections, and writes each message it accepts to DIR/NNNNNN.eml (the bytes as received,
numbered in the order received) with its envelope in DIR/NNNNNN.envelope.json. A file appears
complete (written, then renamed) before the client gets its 250, so a client that saw the
250 finds the file. Runs until killed.
"""

import asyncio
import itertools
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.numbers = itertools.count(1)

    def _write(self, name, data):
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.folder, name))

    async def handle_DATA(self, server, session, envelope):
        n = next(self.numbers)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)}
        self._write(f"{n:06}.envelope.json", json.dumps(meta).encode())
        self._write(f"{n:06}.eml", envelope.original_content)
        return "250 OK: kept"


async def main():
    folder = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(folder, exist_ok=True)
    sink = Sink(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="sink.test", loop=loop),
        host="127.0.0.1",
        port=port,
    )
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
