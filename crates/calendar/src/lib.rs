//! Israel's business calendar, as pure computation (no I/O, no database): the Hebrew
//! calendar and the Israeli holidays ([`hebrew`]), sunset and nightfall ([`sun`]), the
//! times a business observing Shabbat and holidays is closed ([`holy`]), and the free
//! appointment slots of a business's staff ([`availability`]). Everything is in Israel
//! time (Asia/Jerusalem, IST/IDT) through `jiff` with its bundled time-zone database.
//!
//! Why our own code rather than a crate: the Rust Hebrew-calendar crates on crates.io
//! (`heca-lib` 1.3.2, last released in 2020 on chrono 0.4 and lazy_static; `zmanim`
//! 0.0.7, pre-release) are unmaintained, while the arithmetic needed here is small and
//! well known: the molad and the four postponements (dehiyyot) give Rosh Hashana of any
//! year, every holiday a business closes for is a fixed offset from it, and NOAA's solar
//! equations give sunset. The results are checked date by date and minute by minute
//! against PyPI `hdate` for 2026–2030 (tests/hdate.rs).

pub mod availability;
pub mod hebrew;
pub mod holy;
pub mod sun;

pub use holy::{ClosedPeriod, Location, closed_periods};

/// Israel's time zone (IST, UTC+2; IDT, UTC+3 in summer), from the bundled database.
pub fn israel() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Jerusalem").expect("Asia/Jerusalem is in the bundled tzdb")
}
