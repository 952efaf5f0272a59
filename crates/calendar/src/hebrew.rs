//! The Hebrew calendar's arithmetic and the Israeli holidays a business closes for.
//!
//! Rosh Hashana of a year is found from the molad of Tishrei and the postponements
//! (dehiyyot), after Reingold & Dershowitz, *Calendrical Calculations*: days elapsed
//! since the epoch from the molad (with the "molad zaken" and "lo ADU Rosh" rules in one
//! step) and a length correction that keeps every year 353–355 or 383–385 days long
//! (the GaTaRaD and BeTUTaKPaT rules). The spring holidays follow: the months Nisan to
//! Elul have fixed lengths, so 15 Nisan is always 163 days before the next Rosh Hashana.

use jiff::civil::Date;

/// Rata Die (day 1 = 1 January of year 1, proleptic Gregorian) of 1 Tishrei AM 1's epoch.
const HEBREW_EPOCH_RD: i64 = -1_373_427;
/// Rata Die of 1970-01-01.
const UNIX_EPOCH_RD: i64 = 719_163;

/// A holiday that is a day of rest in Israel (one day each, two for Rosh Hashana).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holiday {
    RoshHashana1,
    RoshHashana2,
    YomKippur,
    Sukkot,
    /// Shemini Atzeret, which in Israel is also Simchat Torah.
    SheminiAtzeret,
    Pesach1,
    Pesach7,
    Shavuot,
}

impl Holiday {
    /// The name a business sees, in Hebrew.
    pub fn hebrew_name(self) -> &'static str {
        match self {
            Holiday::RoshHashana1 => "ראש השנה א׳",
            Holiday::RoshHashana2 => "ראש השנה ב׳",
            Holiday::YomKippur => "יום כיפור",
            Holiday::Sukkot => "סוכות",
            Holiday::SheminiAtzeret => "שמיני עצרת / שמחת תורה",
            Holiday::Pesach1 => "פסח",
            Holiday::Pesach7 => "שביעי של פסח",
            Holiday::Shavuot => "שבועות",
        }
    }

    /// A stable identifier (as PyPI `hdate` names the same days).
    pub fn key(self) -> &'static str {
        match self {
            Holiday::RoshHashana1 => "rosh_hashana_i",
            Holiday::RoshHashana2 => "rosh_hashana_ii",
            Holiday::YomKippur => "yom_kippur",
            Holiday::Sukkot => "sukkot",
            Holiday::SheminiAtzeret => "shmini_atzeret",
            Holiday::Pesach1 => "pesach",
            Holiday::Pesach7 => "pesach_vii",
            Holiday::Shavuot => "shavuot",
        }
    }
}

fn months_elapsed(year: i64) -> i64 {
    (235 * year - 234).div_euclid(19)
}

/// Days from the epoch to the molad-based day of Rosh Hashana, with molad zaken and
/// lo ADU Rosh applied.
fn elapsed_days(year: i64) -> i64 {
    let months = months_elapsed(year);
    let parts = 12_084 + 13_753 * months;
    let days = 29 * months + parts.div_euclid(25_920);
    if (3 * (days + 1)).rem_euclid(7) < 3 {
        days + 1
    } else {
        days
    }
}

/// GaTaRaD / BeTUTaKPaT: a further day's delay so no year has an invalid length.
fn year_length_correction(year: i64) -> i64 {
    let (ny0, ny1, ny2) = (
        elapsed_days(year - 1),
        elapsed_days(year),
        elapsed_days(year + 1),
    );
    if ny2 - ny1 == 356 {
        2
    } else if ny1 - ny0 == 382 {
        1
    } else {
        0
    }
}

fn date_from_rd(rd: i64) -> Date {
    let epoch = Date::constant(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(rd - UNIX_EPOCH_RD))
        .expect("a date within jiff's range")
}

/// The Gregorian date of 1 Tishrei of a Hebrew year (AM), e.g. 5787 → 2026-09-12.
pub fn rosh_hashana(hebrew_year: i64) -> Date {
    date_from_rd(HEBREW_EPOCH_RD + elapsed_days(hebrew_year) + year_length_correction(hebrew_year))
}

/// Number of days in a Hebrew year (353–355 or 383–385).
pub fn year_length(hebrew_year: i64) -> i64 {
    let a = rosh_hashana(hebrew_year);
    let b = rosh_hashana(hebrew_year + 1);
    (b - a).get_days() as i64
}

/// Every Israeli holiday day of rest falling in a Gregorian year, in date order.
pub fn holidays_in_year(gregorian_year: i16) -> Vec<(Date, Holiday)> {
    let autumn_year = i64::from(gregorian_year) + 3761;
    let rh = rosh_hashana(autumn_year);
    let day = |d: Date, n: i64| d.checked_add(jiff::Span::new().days(n)).expect("in range");
    let pesach = day(rh, -163);
    vec![
        (pesach, Holiday::Pesach1),
        (day(pesach, 6), Holiday::Pesach7),
        (day(pesach, 50), Holiday::Shavuot),
        (rh, Holiday::RoshHashana1),
        (day(rh, 1), Holiday::RoshHashana2),
        (day(rh, 9), Holiday::YomKippur),
        (day(rh, 14), Holiday::Sukkot),
        (day(rh, 21), Holiday::SheminiAtzeret),
    ]
}

/// The holiday falling on a date, if any.
pub fn holiday_on(date: Date) -> Option<Holiday> {
    holidays_in_year(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, h)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_new_years() {
        assert_eq!(rosh_hashana(5786), Date::constant(2025, 9, 23));
        assert_eq!(rosh_hashana(5787), Date::constant(2026, 9, 12));
        assert_eq!(rosh_hashana(5784), Date::constant(2023, 9, 16));
        // Rosh Hashana is never on Sunday, Wednesday or Friday (lo ADU Rosh).
        for y in 5600..6000 {
            let wd = rosh_hashana(y).weekday();
            assert!(
                !matches!(
                    wd,
                    jiff::civil::Weekday::Sunday
                        | jiff::civil::Weekday::Wednesday
                        | jiff::civil::Weekday::Friday
                ),
                "{y}: {wd:?}"
            );
            assert!(matches!(year_length(y), 353..=355 | 383..=385), "{y}");
        }
    }

    #[test]
    fn pesach_2026_and_shavuot() {
        let h = holidays_in_year(2026);
        assert_eq!(h[0], (Date::constant(2026, 4, 2), Holiday::Pesach1));
        assert_eq!(h[2], (Date::constant(2026, 5, 22), Holiday::Shavuot));
        assert_eq!(
            holiday_on(Date::constant(2026, 9, 21)),
            Some(Holiday::YomKippur)
        );
        assert_eq!(holiday_on(Date::constant(2026, 9, 22)), None);
    }
}
