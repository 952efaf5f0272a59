"""Verifies one webhook delivery with the Standard Webhooks specification's own library.

Used by crates/server/tests/hooks.rs: reads a JSON object on standard input,
{"secret": "whsec_…", "headers": {name: value}, "body_b64": "<the body's bytes, base64>"},
verifies the body and headers with PyPI `standardwebhooks` (signature and timestamp
tolerance), and prints the verified payload as JSON. Exits 1 with the library's error
when verification fails. scripts/test.sh installs the library into
~/.cache/mokdan-hooks-venv.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    req = json.load(sys.stdin)
    body = base64.b64decode(req["body_b64"])
    try:
        payload = Webhook(req["secret"]).verify(body, req["headers"])
    except WebhookVerificationError as e:
        print(f"verification failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(payload, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
