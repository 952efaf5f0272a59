#!/usr/bin/env python3
"""Checks the <Start><Recording> of mokdan's answering TwiML against Twilio's own library.

Reads mokdan's TwiML on stdin and the base URL as the first argument. Builds what Twilio's
Python library (PyPI `twilio`) writes for the same recording — dual channel, the status
callback at <base>/webhook/recording_status on `completed` — and compares the two <Start>
elements: same nouns, same attributes. Also checks that <Start> comes before <Connect>.
Prints "ok" and exits 0, or says what differs and exits 1.
"""
import sys
import xml.etree.ElementTree as ET

from twilio.twiml.voice_response import Start, VoiceResponse


def main() -> int:
    base = sys.argv[1]
    ours = ET.fromstring(sys.stdin.read())
    verbs = [child.tag for child in ours]
    if "Start" not in verbs or "Connect" not in verbs or verbs.index("Start") > verbs.index("Connect"):
        print(f"<Start> must come before <Connect>: {verbs}")
        return 1
    theirs_doc = VoiceResponse()
    start = Start()
    start.recording(
        recording_status_callback=f"{base}/webhook/recording_status",
        recording_status_callback_event="completed",
        channels="dual",
    )
    theirs_doc.append(start)
    theirs = ET.fromstring(str(theirs_doc))
    ours_start = ours.find("Start")
    theirs_start = theirs.find("Start")
    ours_nouns = [(c.tag, dict(c.attrib)) for c in ours_start]
    theirs_nouns = [(c.tag, dict(c.attrib)) for c in theirs_start]
    if ours_nouns != theirs_nouns:
        print(f"ours:   {ours_nouns}\ntwilio: {theirs_nouns}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
