//! Free slots from hours, closures, Shabbat and holidays, buffers and busy times, in
//! Israel time, including the nights the clocks change and Friday afternoons.

use calendar::availability::{
    Business, Closure, Interval, Service, Slot, StaffCalendar, WeeklyHours, free_slots,
};
use calendar::{Location, hebrew, holy};
use jiff::civil::{Date, Time, Weekday, time};
use jiff::{Timestamp, ZonedDateTime};

fn at(date: Date, h: i8, m: i8) -> Timestamp {
    date.to_datetime(time(h, m, 0, 0))
        .to_zoned_datetime(calendar::israel())
        .unwrap()
        .timestamp()
}

fn wall(t: Timestamp) -> String {
    let z: ZonedDateTime = t.to_zoned_datetime(calendar::israel());
    z.strftime("%a %H:%M%z").to_string()
}

fn hours(days: &[Weekday], from: Time, to: Time) -> WeeklyHours {
    let mut w = WeeklyHours::default();
    for d in days {
        w.set(*d, vec![(from, to)]);
    }
    w
}

const WEEKDAYS: [Weekday; 5] = [
    Weekday::Sunday,
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
];
const ALL: [Weekday; 7] = [
    Weekday::Sunday,
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
];

fn business(h: WeeklyHours, holy: bool) -> Business {
    Business {
        hours: h,
        closures: vec![],
        closed_on_holy_days: holy,
        location: Location::TEL_AVIV,
        slot_step_minutes: 15,
    }
}

fn staff(id: i64, h: WeeklyHours, busy: Vec<Interval>) -> StaffCalendar {
    StaffCalendar {
        staff_id: id,
        hours: h,
        busy,
    }
}

fn day_slots(biz: &Business, svc: &Service, cals: &[StaffCalendar], d: Date) -> Vec<Slot> {
    free_slots(biz, svc, cals, at(d, 0, 0), at(d.tomorrow().unwrap(), 0, 0))
}

#[test]
fn staff_hours_within_business_hours_with_buffers_and_busy_times() {
    let d = Date::constant(2027, 1, 5); // a Tuesday
    let biz = business(hours(&WEEKDAYS, time(9, 0, 0, 0), time(17, 0, 0, 0)), true);
    // The staff member would work 08:00–14:00; the business opens at 09:00.
    let busy = vec![Interval::new(at(d, 11, 0), at(d, 11, 40))];
    let cal = staff(
        7,
        hours(&WEEKDAYS, time(8, 0, 0, 0), time(14, 0, 0, 0)),
        busy,
    );
    let svc = Service {
        duration_minutes: 30,
        buffer_after_minutes: 10,
    };
    let got: Vec<String> = day_slots(&biz, &svc, &[cal], d)
        .iter()
        .map(|s| wall(s.start))
        .collect();
    let mut want: Vec<String> = Vec::new();
    // 09:00 … 10:15 (10:15 + 30 + 10 = 10:55 < 11:00), then from 11:45 to 13:30.
    for (h, m) in [(9, 0), (9, 15), (9, 30), (9, 45), (10, 0), (10, 15)] {
        want.push(format!("Tue {h:02}:{m:02}+0200"));
    }
    for q in 0..8 {
        let mins = 11 * 60 + 45 + q * 15;
        want.push(format!("Tue {:02}:{:02}+0200", mins / 60, mins % 60));
    }
    assert_eq!(got, want);
}

#[test]
fn two_staff_members_sorted_by_time_and_the_busy_one_skipped() {
    let d = Date::constant(2027, 1, 5);
    let biz = business(hours(&WEEKDAYS, time(9, 0, 0, 0), time(10, 0, 0, 0)), false);
    let svc = Service {
        duration_minutes: 60,
        buffer_after_minutes: 0,
    };
    let a = staff(
        1,
        hours(&WEEKDAYS, time(9, 0, 0, 0), time(10, 0, 0, 0)),
        vec![],
    );
    let b = staff(
        2,
        hours(&WEEKDAYS, time(9, 0, 0, 0), time(10, 0, 0, 0)),
        vec![Interval::new(at(d, 9, 30), at(d, 9, 45))],
    );
    let got = day_slots(&biz, &svc, &[b, a], d);
    assert_eq!(
        got,
        vec![Slot {
            staff_id: 1,
            start: at(d, 9, 0),
            end: at(d, 10, 0)
        }]
    );
}

#[test]
fn friday_afternoon_ends_at_candle_lighting_and_saturday_night_reopens() {
    let fri = Date::constant(2027, 1, 8);
    let sat = fri.tomorrow().unwrap();
    let open = hours(&ALL, time(8, 0, 0, 0), time(22, 0, 0, 0));
    let svc = Service {
        duration_minutes: 30,
        buffer_after_minutes: 0,
    };
    let cal = staff(1, open.clone(), vec![]);
    let candle = holy::candle_lighting(&Location::TEL_AVIV, fri);
    let havdalah = holy::havdalah(&Location::TEL_AVIV, sat);
    assert_eq!(wall(candle).get(..6), Some("Fri 16"), "{}", wall(candle));

    let kept = business(open.clone(), true);
    let friday = day_slots(&kept, &svc, std::slice::from_ref(&cal), fri);
    let last = friday.last().unwrap();
    assert!(
        last.end <= candle && candle.duration_since(last.end).as_mins() < 15,
        "{}",
        wall(last.end)
    );
    let saturday = day_slots(&kept, &svc, std::slice::from_ref(&cal), sat);
    assert!(saturday.first().unwrap().start >= havdalah);
    assert!(
        saturday
            .first()
            .unwrap()
            .start
            .duration_since(havdalah)
            .as_mins()
            < 15
    );
    assert_eq!(wall(saturday.last().unwrap().start), "Sat 21:30+0200");

    // A business that works on Shabbat is offered the whole day: 08:00 to 21:30 by quarters.
    let open_all = business(open, false);
    assert_eq!(
        day_slots(&open_all, &svc, std::slice::from_ref(&cal), fri).len(),
        55
    );
    assert_eq!(day_slots(&open_all, &svc, &[cal], sat).len(), 55);
}

#[test]
fn holidays_close_the_day_and_its_eve_from_candle_lighting() {
    let (yk, h) = hebrew::holidays_in_year(2027)[5];
    assert_eq!(h, hebrew::Holiday::YomKippur);
    let eve = yk.yesterday().unwrap();
    let open = hours(&ALL, time(8, 0, 0, 0), time(22, 0, 0, 0));
    let svc = Service {
        duration_minutes: 60,
        buffer_after_minutes: 0,
    };
    let cal = staff(1, open.clone(), vec![]);
    let biz = business(open, true);
    let on_eve = day_slots(&biz, &svc, std::slice::from_ref(&cal), eve);
    assert!(on_eve.last().unwrap().end <= holy::candle_lighting(&Location::TEL_AVIV, eve));
    let after = holy::havdalah(&Location::TEL_AVIV, yk);
    assert!(
        day_slots(&biz, &svc, &[cal], yk)
            .iter()
            .all(|s| s.start >= after)
    );
}

#[test]
fn closed_dates_and_special_hours() {
    let d = Date::constant(2027, 1, 5);
    let mut biz = business(hours(&WEEKDAYS, time(9, 0, 0, 0), time(17, 0, 0, 0)), false);
    biz.closures = vec![
        Closure::Closed {
            first: d,
            last: d.tomorrow().unwrap(),
        },
        Closure::SpecialHours {
            date: Date::constant(2027, 1, 7),
            hours: vec![(time(12, 0, 0, 0), time(13, 0, 0, 0))],
        },
    ];
    let cal = staff(
        1,
        hours(&WEEKDAYS, time(9, 0, 0, 0), time(17, 0, 0, 0)),
        vec![],
    );
    let svc = Service {
        duration_minutes: 30,
        buffer_after_minutes: 0,
    };
    assert!(day_slots(&biz, &svc, std::slice::from_ref(&cal), d).is_empty());
    assert!(
        day_slots(
            &biz,
            &svc,
            std::slice::from_ref(&cal),
            d.tomorrow().unwrap()
        )
        .is_empty()
    );
    let special = day_slots(&biz, &svc, &[cal], Date::constant(2027, 1, 7));
    let walls: Vec<String> = special.iter().map(|s| wall(s.start)).collect();
    assert_eq!(
        walls,
        ["Thu 12:00+0200", "Thu 12:15+0200", "Thu 12:30+0200"]
    );
}

#[test]
fn spring_forward_night_has_no_two_oclock() {
    // Israel moves to summer time on the Friday before March's last Sunday: 2027-03-26,
    // 02:00 IST becomes 03:00 IDT.
    let d = Date::constant(2027, 3, 26);
    let night = hours(&ALL, time(0, 0, 0, 0), time(6, 0, 0, 0));
    let mut biz = business(night.clone(), false);
    biz.slot_step_minutes = 60;
    let svc = Service {
        duration_minutes: 60,
        buffer_after_minutes: 0,
    };
    let got = day_slots(&biz, &svc, &[staff(1, night, vec![])], d);
    let walls: Vec<String> = got.iter().map(|s| wall(s.start)).collect();
    assert_eq!(
        walls,
        [
            "Fri 00:00+0200",
            "Fri 01:00+0200",
            "Fri 03:00+0300",
            "Fri 04:00+0300",
            "Fri 05:00+0300"
        ]
    );
    // Each is one real hour, back to back.
    for w in got.windows(2) {
        assert_eq!(w[1].start.duration_since(w[0].start).as_hours(), 1);
    }
    // Daytime hours keep their wall clock on both sides of the change.
    let day = hours(&WEEKDAYS, time(9, 0, 0, 0), time(10, 0, 0, 0));
    let biz = business(day.clone(), false);
    for d in [Date::constant(2027, 3, 25), Date::constant(2027, 3, 28)] {
        let s = day_slots(&biz, &svc, &[staff(1, day.clone(), vec![])], d);
        assert_eq!(s.len(), 1);
        assert_eq!(wall(s[0].start).get(4..9), Some("09:00"));
    }
}

#[test]
fn fall_back_night_repeats_one_oclock() {
    // Back to winter time on October's last Sunday: 2027-10-31, 02:00 IDT is 01:00 IST.
    let d = Date::constant(2027, 10, 31);
    let night = hours(&ALL, time(0, 0, 0, 0), time(4, 0, 0, 0));
    let mut biz = business(night.clone(), false);
    biz.slot_step_minutes = 60;
    let svc = Service {
        duration_minutes: 60,
        buffer_after_minutes: 0,
    };
    let got = day_slots(&biz, &svc, &[staff(1, night, vec![])], d);
    let walls: Vec<String> = got.iter().map(|s| wall(s.start)).collect();
    assert_eq!(
        walls,
        [
            "Sun 00:00+0300",
            "Sun 01:00+0300",
            "Sun 01:00+0200",
            "Sun 02:00+0200",
            "Sun 03:00+0200"
        ]
    );
}

#[test]
fn overlapping_busy_times_match_a_brute_force_check() {
    // Busy times from a fixed pseudo-random sequence, overlapping each other: every start
    // on the grid must be offered exactly when the service and its buffer touch none.
    let d = Date::constant(2027, 1, 5);
    let open = hours(&WEEKDAYS, time(8, 0, 0, 0), time(20, 0, 0, 0));
    let biz = business(open.clone(), false);
    let svc = Service {
        duration_minutes: 25,
        buffer_after_minutes: 10,
    };
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..50 {
        let busy: Vec<Interval> = (0..rand(12))
            .map(|_| {
                let s = at(d, 8, 0) + jiff::SignedDuration::from_mins(rand(720) as i64);
                Interval::new(s, s + jiff::SignedDuration::from_mins(5 + rand(90) as i64))
            })
            .collect();
        let got = day_slots(&biz, &svc, &[staff(1, open.clone(), busy.clone())], d);
        let mut want = Vec::new();
        let mut s = at(d, 8, 0);
        while s + jiff::SignedDuration::from_mins(25) <= at(d, 20, 0) {
            let need = Interval::new(s, s + jiff::SignedDuration::from_mins(35));
            if busy.iter().all(|b| !b.overlaps(&need)) {
                want.push(s);
            }
            s += jiff::SignedDuration::from_mins(15);
        }
        let got: Vec<Timestamp> = got.iter().map(|x| x.start).collect();
        assert_eq!(got, want, "{busy:?}");
    }
}
