#!/usr/bin/env python3
"""Israel's holy days and their closing times, from PyPI `hdate`, as JSON.

crates/calendar/tests/hdate.rs runs this and compares every date and time with what
mokdan computes itself. Usage: hdate_check.py FIRST_YEAR LAST_YEAR LAT LON CANDLE_MINUTES

Output: {"yom_tov": [{"date": "YYYY-MM-DD", "name": "..."}],
         "starts": ["YYYY-MM-DDTHH:MM:SS+03:00", ...],  # candle-lighting before a holy stretch
         "ends":   [...]}                               # havdalah (three stars, 8.5°) after it
A "holy stretch" is a run of days each of which is Shabbat or a yom tov (Israel schedule).
"""

import datetime as dt
import json
import sys

import astral  # noqa: F401  (hdate computes sunset with astral when present, else a short form)
from hdate import HDateInfo, Location, Zmanim


def main() -> None:
    first, last = int(sys.argv[1]), int(sys.argv[2])
    lat, lon, candle = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    loc = Location(name="x", latitude=lat, longitude=lon, timezone="Asia/Jerusalem",
                   altitude=0, diaspora=False)

    def holy(day: dt.date) -> bool:
        info = HDateInfo(day, diaspora=False)
        return info.is_shabbat or info.is_yom_tov

    out = {"yom_tov": [], "starts": [], "ends": []}
    day = dt.date(first, 1, 1)
    end = dt.date(last, 12, 31)
    while day <= end:
        info = HDateInfo(day, diaspora=False)
        if info.is_yom_tov:
            names = [h.name for h in info.holidays if h.type.name == "YOM_TOV"]
            out["yom_tov"].append({"date": day.isoformat(), "name": ",".join(names)})
        today, tomorrow = holy(day), holy(day + dt.timedelta(days=1))
        z = Zmanim(date=day, location=loc, candle_lighting_offset=candle, havdalah_offset=0)
        if not today and tomorrow:
            out["starts"].append(z.candle_lighting.isoformat(timespec="seconds"))
        if today and not tomorrow:
            out["ends"].append(z.havdalah.isoformat(timespec="seconds"))
        day += dt.timedelta(days=1)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
