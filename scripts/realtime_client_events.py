#!/usr/bin/env python3
"""Checks Realtime client events against OpenAI's own Python SDK types.

Reads a JSON array of client events (what mokdan sent to a Realtime server) from the
file named on the command line, validates each with pydantic against the SDK's
`openai.types.realtime.RealtimeClientEvent` union, and refuses fields the SDK does not
know (its models accept extras silently, so they are looked for after validation).
Prints one line per event and exits non-zero if any event does not match.
"""

import json
import sys

from pydantic import BaseModel, TypeAdapter

from openai.types.realtime import RealtimeClientEvent


def extras(model, path):
    """Fields present in the data that the SDK's model does not declare."""
    found = []
    if isinstance(model, BaseModel):
        for name in (model.model_extra or {}):
            found.append(f"{path}.{name}")
        for name in type(model).model_fields:
            found.extend(extras(getattr(model, name), f"{path}.{name}"))
    elif isinstance(model, (list, tuple)):
        for i, item in enumerate(model):
            found.extend(extras(item, f"{path}[{i}]"))
    elif isinstance(model, dict):
        for key, item in model.items():
            found.extend(extras(item, f"{path}.{key}"))
    return found


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        events = json.load(f)
    adapter = TypeAdapter(RealtimeClientEvent)
    bad = 0
    for i, event in enumerate(events):
        kind = event.get("type", "?")
        try:
            model = adapter.validate_python(event)
        except Exception as e:  # pydantic.ValidationError, with every field at fault
            bad += 1
            print(f"FAIL {i} {kind}: {str(e)[:1500]}")
            continue
        unknown = extras(model, kind)
        if unknown:
            bad += 1
            print(f"FAIL {i} {kind}: fields the SDK does not know: {', '.join(unknown)}")
        else:
            print(f"ok {i} {kind} ({type(model).__name__})")
    print(f"{len(events) - bad} valid, {bad} invalid")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
