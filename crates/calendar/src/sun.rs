//! Sunset and nightfall, from NOAA's solar calculator equations (Meeus, *Astronomical
//! Algorithms*): the sun's declination and the equation of time at a Julian century,
//! refined once at the event's own moment. Accurate to well within a minute at Israel's
//! latitudes, which is all a closing time needs.

use jiff::{Timestamp, civil::Date};

/// Zenith of sunset: the sun's upper edge on the horizon, with refraction (90°50′).
pub const SUNSET_ZENITH: f64 = 90.833;
/// Zenith of nightfall for the end of Shabbat (tzeit, three stars): 8.5° below the horizon.
pub const TZEIT_ZENITH: f64 = 98.5;

fn julian_day(date: Date) -> f64 {
    let days = (date - Date::constant(1970, 1, 1)).get_days();
    2_440_587.5 + f64::from(days)
}

/// Minutes after 00:00 UTC of `date` at which the sun, going down, reaches `zenith`
/// degrees at (`lat`, `lon`), east longitude positive; `None` if it never does that day.
fn setting_minutes_utc(date: Date, lat: f64, lon: f64, zenith: f64) -> Option<f64> {
    let jd0 = julian_day(date);
    // First at local noon, then once more at the first estimate.
    let mut minutes = 720.0 - 4.0 * lon;
    for _ in 0..2 {
        let t = (jd0 + minutes / 1440.0 - 2_451_545.0) / 36_525.0;
        let (decl, eq_time) = solar_position(t);
        let lat_r = lat.to_radians();
        let cos_ha =
            zenith.to_radians().cos() / (lat_r.cos() * decl.cos()) - lat_r.tan() * decl.tan();
        if !(-1.0..=1.0).contains(&cos_ha) {
            return None;
        }
        let ha = cos_ha.acos().to_degrees();
        minutes = 720.0 - 4.0 * (lon - ha) - eq_time;
    }
    Some(minutes)
}

/// The sun's declination (radians) and the equation of time (minutes) at Julian century `t`.
fn solar_position(t: f64) -> (f64, f64) {
    let l0 = (280.466_46 + t * (36_000.769_83 + t * 0.000_303_2)).rem_euclid(360.0);
    let m = 357.529_11 + t * (35_999.050_29 - 0.000_153_7 * t);
    let e = 0.016_708_634 - t * (0.000_042_037 + 0.000_000_126_7 * t);
    let mr = m.to_radians();
    let c = mr.sin() * (1.914_602 - t * (0.004_817 + 0.000_014 * t))
        + (2.0 * mr).sin() * (0.019_993 - 0.000_101 * t)
        + (3.0 * mr).sin() * 0.000_289;
    let true_long = l0 + c;
    let omega = (125.04 - 1_934.136 * t).to_radians();
    let lambda = (true_long - 0.005_69 - 0.004_78 * omega.sin()).to_radians();
    let eps0 =
        23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.000_59 - t * 0.001_813))) / 60.0) / 60.0;
    let eps = (eps0 + 0.002_56 * omega.cos()).to_radians();
    let decl = (eps.sin() * lambda.sin()).asin();
    let y = (eps / 2.0).tan().powi(2);
    let l0r = l0.to_radians();
    let eq = y * (2.0 * l0r).sin() - 2.0 * e * mr.sin()
        + 4.0 * e * y * mr.sin() * (2.0 * l0r).cos()
        - 0.5 * y * y * (4.0 * l0r).sin()
        - 1.25 * e * e * (2.0 * mr).sin();
    (decl, 4.0 * eq.to_degrees())
}

fn at_minutes(date: Date, minutes: f64) -> Timestamp {
    let midnight = date
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .expect("valid date")
        .timestamp();
    let secs = (minutes * 60.0).round() as i64;
    midnight
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .expect("in range")
}

/// Sunset on `date` at sea level, to the second.
pub fn sunset(date: Date, lat: f64, lon: f64) -> Option<Timestamp> {
    setting_minutes_utc(date, lat, lon, SUNSET_ZENITH).map(|m| at_minutes(date, m))
}

/// Nightfall (tzeit, the sun 8.5° below the horizon) on `date`, to the second.
pub fn tzeit(date: Date, lat: f64, lon: f64) -> Option<Timestamp> {
    setting_minutes_utc(date, lat, lon, TZEIT_ZENITH).map(|m| at_minutes(date, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tel_aviv_sunsets_in_both_seasons() {
        let tz = crate::israel();
        // Published almanac values for Tel Aviv: about 16:44 IST on 21 Dec 2026 and
        // 19:50 IDT on 21 Jun 2026.
        let winter = sunset(Date::constant(2026, 12, 21), 32.0853, 34.7818)
            .unwrap()
            .to_zoned_datetime(tz.clone());
        assert_eq!((winter.hour(), winter.minute() / 10), (16, 4), "{winter}");
        let summer = sunset(Date::constant(2026, 6, 21), 32.0853, 34.7818)
            .unwrap()
            .to_zoned_datetime(tz);
        assert_eq!((summer.hour(), summer.minute() / 10), (19, 5), "{summer}");
        let night = tzeit(Date::constant(2026, 6, 21), 32.0853, 34.7818).unwrap();
        let set = sunset(Date::constant(2026, 6, 21), 32.0853, 34.7818).unwrap();
        let gap = night.duration_since(set).as_secs() / 60;
        assert!((30..45).contains(&gap), "tzeit {gap} min after sunset");
    }
}
