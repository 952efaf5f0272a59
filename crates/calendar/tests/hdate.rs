//! Israel's holidays and the times of Shabbat and holidays, 2026–2030, checked against an
//! established Hebrew-calendar library: PyPI `hdate` (scripts/hdate_check.py), for Tel
//! Aviv (candle-lighting 18 minutes before sunset) and Jerusalem (40 minutes). Every
//! holiday date must match exactly and every closing and reopening time to within one
//! minute (both use Meeus's solar equations — hdate through PyPI `astral`, which it uses
//! when installed — and round to the minute differently: we round candle-lighting early
//! and nightfall late).

use std::path::PathBuf;

use calendar::{Location, closed_periods, hebrew};
use jiff::{Timestamp, civil::Date};

fn hdate_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOKDAN_HDATE_PYTHON") {
        return Some(p.into());
    }
    let home = std::env::var_os("HOME")?;
    let p = std::path::Path::new(&home).join(".cache/mokdan-hdate-venv/bin/python");
    let ok = std::process::Command::new(&p)
        .args(["-c", "import hdate, astral"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

fn hdate(python: &PathBuf, loc: &Location) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/hdate_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(["2026", "2030"])
        .arg(loc.latitude.to_string())
        .arg(loc.longitude.to_string())
        .arg(loc.candle_minutes.to_string())
        .output()
        .expect("run scripts/hdate_check.py");
    assert!(
        out.status.success(),
        "hdate_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from hdate_check.py")
}

fn times(v: &serde_json::Value, key: &str) -> Vec<Timestamp> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect()
}

fn compare(label: &str, ours: &[Timestamp], theirs: &[Timestamp]) -> i64 {
    assert_eq!(ours.len(), theirs.len(), "{label}: number of stretches");
    let mut worst = 0;
    for (a, b) in ours.iter().zip(theirs) {
        let diff = a.duration_since(*b).as_secs().abs();
        assert!(diff <= 60, "{label}: ours {a}, hdate {b}");
        worst = worst.max(diff);
    }
    worst
}

#[test]
fn holidays_and_shabbat_times_match_hdate_2026_to_2030() {
    let Some(python) = hdate_python() else {
        eprintln!(
            "SKIP: PyPI hdate (with astral) not found (set MOKDAN_HDATE_PYTHON or run scripts/test.sh, which \
             installs it into ~/.cache/mokdan-hdate-venv); the calendar is not checked against it"
        );
        return;
    };
    let (first, last) = (Date::constant(2026, 1, 1), Date::constant(2030, 12, 31));

    // Holiday dates: exactly the same days with the same names.
    let theirs = hdate(&python, &Location::TEL_AVIV);
    let their_days: Vec<(String, String)> = theirs["yom_tov"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["date"].as_str().unwrap().to_owned(),
                h["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let our_days: Vec<(Date, hebrew::Holiday)> =
        (2026..=2030).flat_map(hebrew::holidays_in_year).collect();
    assert_eq!(our_days.len(), their_days.len(), "{their_days:?}");
    for ((d, h), (td, tn)) in our_days.iter().zip(&their_days) {
        assert_eq!(&d.to_string(), td, "{h:?}");
        assert!(
            tn.split(',').any(|n| n == h.key()),
            "{d}: ours {}, hdate {tn}",
            h.key()
        );
    }

    let mut checked = 0;
    for loc in [Location::TEL_AVIV, Location::JERUSALEM] {
        let theirs = if loc == Location::TEL_AVIV {
            theirs.clone()
        } else {
            hdate(&python, &loc)
        };
        let periods = closed_periods(&loc, first, last);
        let tz = calendar::israel();
        // hdate lists a start when its eve falls in the range, an end when the last day does.
        let eve_in_range = |t: &Timestamp| {
            let d = t.to_zoned_datetime(tz.clone()).date();
            d >= first && d <= last
        };
        let starts: Vec<Timestamp> = periods
            .iter()
            .map(|p| p.start)
            .filter(|t| eve_in_range(t))
            .collect();
        let ends: Vec<Timestamp> = periods
            .iter()
            .map(|p| p.end)
            .filter(|t| eve_in_range(t))
            .collect();
        let ws = compare(
            &format!("{} candle-lighting", loc.key),
            &starts,
            &times(&theirs, "starts"),
        );
        let we = compare(
            &format!("{} nightfall", loc.key),
            &ends,
            &times(&theirs, "ends"),
        );
        eprintln!(
            "{}: {} closings (worst difference {ws} s) and {} reopenings (worst {we} s) match hdate",
            loc.key,
            starts.len(),
            ends.len()
        );
        checked += starts.len() + ends.len();
    }
    eprintln!(
        "{} holiday dates and {checked} closing/reopening times checked",
        our_days.len()
    );
    assert!(checked > 1000, "five years of Shabbatot in two cities");
}
