//! Quiet hours (#22): a user may ask not to be disturbed at night and on Shabbat. A message
//! due then waits for the end of the quiet period (the job's `run_after`); an urgent one
//! goes at once.
//!
//! Times are Israel's (Asia/Jerusalem, through `jiff`, daylight time included). Shabbat is
//! taken as Friday 16:00 to Saturday 20:00 all year (a little wider than candle-lighting to
//! nightfall in every season, which is what a "don't bother me on Shabbat" asks for), and
//! the holidays a business keeps (Rosh Hashana, Yom Kippur, the festival days of Sukkot,
//! Pesach and Shavuot) from candle-lighting on their eve to nightfall after them, computed
//! for any year by the `calendar` crate rather than typed in.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

/// Shabbat begins (Friday) and ends (Saturday) at these local times.
const SHABBAT_FROM: (i8, i8) = (16, 0);
const SHABBAT_TO: (i8, i8) = (20, 0);

fn israel() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("Asia/Jerusalem").expect("the bundled tz database has Israel"))
}

/// A daily quiet period, `from` to `to` in minutes after local midnight; it may wrap
/// midnight (22:00 → 07:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Daily {
    pub from: u16,
    pub to: u16,
}

impl Daily {
    /// `"22:00"`, `"7:30"` → minutes after midnight.
    pub fn parse_hhmm(s: &str) -> Option<u16> {
        let (h, m) = s.trim().split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    pub fn hhmm(minutes: u16) -> String {
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// A user's quiet periods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quiet {
    pub daily: Option<Daily>,
    pub shabbat: bool,
}

fn at(date: Date, minutes: u16) -> i64 {
    let dt = date.at((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
    israel()
        .to_timestamp(dt)
        .map_or(i64::MAX, |t| t.as_millisecond())
}

impl Quiet {
    /// When a message due at `now_ms` may go: `now_ms` itself outside every quiet period,
    /// else the end of the period it falls in (and of any period that end falls in).
    pub fn release_at(&self, now_ms: i64) -> i64 {
        let mut t = now_ms;
        // Periods may touch (Shabbat ending inside the night): a few rounds settle it.
        for _ in 0..4 {
            let next = self.end_of_period_at(t);
            if next == t {
                return t;
            }
            t = next;
        }
        t
    }

    /// The end of the quiet period holding `t`, or `t` when none does.
    fn end_of_period_at(&self, t: i64) -> i64 {
        let Ok(ts) = Timestamp::from_millisecond(t) else {
            return t;
        };
        let local = ts.to_zoned_datetime(israel().clone());
        let date = local.date();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let mut end = t;
        if let Some(Daily { from, to }) = self.daily {
            let quiet_until = if from < to {
                (from..to).contains(&minute).then(|| at(date, to))
            } else if from > to {
                if minute >= from {
                    date.tomorrow().ok().map(|d| at(d, to))
                } else if minute < to {
                    Some(at(date, to))
                } else {
                    None
                }
            } else {
                None
            };
            if let Some(u) = quiet_until {
                end = end.max(u);
            }
        }
        if self.shabbat {
            let from = SHABBAT_FROM.0 as u16 * 60 + SHABBAT_FROM.1 as u16;
            let to = SHABBAT_TO.0 as u16 * 60 + SHABBAT_TO.1 as u16;
            let until = match local.weekday() {
                Weekday::Friday if minute >= from => date.tomorrow().ok().map(|d| at(d, to)),
                Weekday::Saturday if minute < to => Some(at(date, to)),
                _ => None,
            };
            if let Some(u) = until {
                end = end.max(u);
            }
            // Holidays (and Shabbat by the sun): the closed stretch holding `t`, if any.
            let loc = calendar::holy::Location::default();
            let (first, last) = (
                date.yesterday().unwrap_or(date),
                date.tomorrow().unwrap_or(date),
            );
            for p in calendar::holy::closed_periods(&loc, first, last) {
                if p.start <= ts && ts < p.end {
                    end = end.max(p.end.as_millisecond());
                }
            }
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch ms of a local Israel time.
    fn il(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        at(Date::new(y, mo, d).unwrap(), h as u16 * 60 + mi as u16)
    }

    const NIGHT: Daily = Daily {
        from: 22 * 60,
        to: 7 * 60,
    };

    #[test]
    fn hh_mm_parses_and_prints() {
        assert_eq!(Daily::parse_hhmm("22:00"), Some(1320));
        assert_eq!(Daily::parse_hhmm("7:05"), Some(425));
        for bad in ["24:00", "7", "07:5", "aa:bb", "", "-1:00"] {
            assert_eq!(Daily::parse_hhmm(bad), None, "{bad}");
        }
        assert_eq!(Daily::hhmm(425), "07:05");
    }

    #[test]
    fn a_night_that_wraps_midnight_ends_in_the_morning() {
        let q = Quiet {
            daily: Some(NIGHT),
            shabbat: false,
        };
        // Wednesday 2025-03-05 (winter, UTC+2).
        let noon = il(2025, 3, 5, 12, 0);
        assert_eq!(q.release_at(noon), noon);
        assert_eq!(q.release_at(il(2025, 3, 5, 23, 10)), il(2025, 3, 6, 7, 0));
        assert_eq!(q.release_at(il(2025, 3, 6, 3, 0)), il(2025, 3, 6, 7, 0));
        assert_eq!(q.release_at(il(2025, 3, 6, 7, 0)), il(2025, 3, 6, 7, 0));
    }

    #[test]
    fn a_daytime_period_ends_the_same_day() {
        let q = Quiet {
            daily: Some(Daily {
                from: 13 * 60,
                to: 15 * 60,
            }),
            shabbat: false,
        };
        assert_eq!(q.release_at(il(2025, 7, 1, 14, 0)), il(2025, 7, 1, 15, 0));
        assert_eq!(q.release_at(il(2025, 7, 1, 15, 30)), il(2025, 7, 1, 15, 30));
    }

    #[test]
    fn shabbat_waits_for_saturday_evening_and_the_night_after_it() {
        let shabbat = Quiet {
            daily: None,
            shabbat: true,
        };
        // Friday 2025-07-04 (summer, UTC+3): Shabbat ends at nightfall, after 20:00 in
        // summer (the fixed window alone would let a message through before it).
        let nightfall = calendar::holy::havdalah(
            &calendar::holy::Location::default(),
            Date::new(2025, 7, 5).unwrap(),
        )
        .as_millisecond();
        let end = il(2025, 7, 5, 20, 0).max(nightfall);
        assert!(
            end > il(2025, 7, 5, 20, 0),
            "summer nightfall is after 20:00"
        );
        assert_eq!(
            shabbat.release_at(il(2025, 7, 4, 15, 59)),
            il(2025, 7, 4, 15, 59)
        );
        assert_eq!(shabbat.release_at(il(2025, 7, 4, 18, 0)), end);
        assert_eq!(shabbat.release_at(il(2025, 7, 5, 11, 0)), end);
        // With a night from 19:00, Saturday 20:00 is still night: the morning after.
        let both = Quiet {
            daily: Some(Daily {
                from: 19 * 60,
                to: 7 * 60,
            }),
            shabbat: true,
        };
        assert_eq!(both.release_at(il(2025, 7, 5, 11, 0)), il(2025, 7, 6, 7, 0));
    }

    #[test]
    fn holidays_are_quiet_from_their_eve_to_nightfall() {
        let q = Quiet {
            daily: None,
            shabbat: true,
        };
        let loc = calendar::holy::Location::default();
        // Yom Kippur and the first day of Pesach of 2027, whatever weekday they fall on.
        for (day, holiday) in calendar::hebrew::holidays_in_year(2027) {
            if !matches!(
                holiday,
                calendar::hebrew::Holiday::YomKippur | calendar::hebrew::Holiday::Pesach1
            ) {
                continue;
            }
            let noon = il(day.year(), day.month(), day.day(), 12, 0);
            let released = q.release_at(noon);
            let nightfall = calendar::holy::havdalah(&loc, day).as_millisecond();
            assert!(
                released >= nightfall,
                "{holiday:?} on {day}: released before nightfall"
            );
            assert!(
                released > noon + 3_600_000,
                "{holiday:?} on {day}: not held"
            );
            // A weekday before the holiday's eve is not quiet.
            let before = day.yesterday().unwrap().yesterday().unwrap();
            if !matches!(before.weekday(), Weekday::Friday | Weekday::Saturday) {
                let t = il(before.year(), before.month(), before.day(), 12, 0);
                assert_eq!(q.release_at(t), t, "the day before {holiday:?}'s eve");
            }
        }
    }
}
