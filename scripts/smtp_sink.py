"""A real SMTP server for the notification tests (crates/server/tests/notify.rs).

Runs aiosmtpd (PyPI) on 127.0.0.1 at a free port, prints `READY <port>` once it accepts
connections, and writes every message it receives as JSON into the folder given as the
first argument: the envelope, and the message as Python's own `email` package reads it
(the subject decoded from its RFC 2047 words, each part decoded from its transfer
encoding), so the test checks what a mail client would show, not mokdan's own encoding.
Stops when its standard input closes.
"""

import json
import os
import socket
import sys
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        parts = {}
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.setdefault(part.get_content_type(), part.get_content())
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "raw_headers": envelope.original_content.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace"),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        self.count += 1
        path = os.path.join(self.folder, f"message-{self.count}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        return "250 OK stored"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    port = free_port()
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
