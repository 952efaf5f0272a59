//! What the receptionist's appointment tools do (#19; X3, X2): free times offered two or
//! three at a time, spread over the day and said in Hebrew beside their ISO value; a
//! booking through [`store::book`] (the database lets one of any racing bookings win; the
//! loser's answer carries the next free times); the caller's own appointments by the
//! number they ring from; cancel and move only those. Every answer is JSON the model
//! reads: `ok: false` with an `error` it can act on when something is refused.

use std::sync::atomic::Ordering;

use calendar::availability::Slot;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::avail;
use super::booking::{anyone_works, placements};
use super::host::PhoneBook;
use super::spoken;
use super::time::{parse, parse_hhmm, show, show_ts};
use crate::domain::Phone;
use crate::store::appointments::{self as store, Appointment, BookError, GRANULE_MS};
use crate::store::appointments::{NewAppointment, Placement};
use crate::store::scheduling::{self as setup, Service, Staff};
use crate::store::{appointments_caller, customers};

/// Free times offered at once.
const OFFER: usize = 3;
/// The longest range searched for one question.
const MAX_DAYS: i64 = 31;
/// How far beyond the range asked the nearest free times are looked for.
const NEAREST_DAYS: i64 = 14;
/// Bookings one call may make.
const MAX_BOOKINGS: usize = 3;
const UNAVAILABLE: &str =
    "the appointment book cannot be read right now; apologise and offer a call back";

type Answer = Result<Value, String>;

fn db_err(e: impl std::fmt::Display) -> String {
    tracing::warn!(error = %e, "appointment tool: database");
    UNAVAILABLE.into()
}

/// A non-empty argument as text (numbers too).
fn arg(args: &Value, key: &str) -> Option<String> {
    match args.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Finds a name: by id, exactly (ignoring case), or as the only partial match.
fn by_name<'a, T>(
    items: &'a [T],
    q: &str,
    id: impl Fn(&T) -> i64,
    name: impl Fn(&T) -> &str,
) -> Option<&'a T> {
    let q = q.trim().to_lowercase();
    if let Ok(n) = q.parse::<i64>()
        && let Some(x) = items.iter().find(|x| id(x) == n)
    {
        return Some(x);
    }
    if let Some(x) = items.iter().find(|x| name(x).trim().to_lowercase() == q) {
        return Some(x);
    }
    let partial: Vec<&T> = items
        .iter()
        .filter(|x| {
            let n = name(x).trim().to_lowercase();
            !n.is_empty() && (n.contains(&q) || q.contains(&n))
        })
        .collect();
    (partial.len() == 1).then(|| partial[0])
}

fn staff_of(staff: &[Staff], args: &Value) -> Result<Option<i64>, Value> {
    let Some(q) = arg(args, "staff") else {
        return Ok(None);
    };
    match by_name(staff, &q, |s| s.id, |s| &s.name) {
        Some(s) => Ok(Some(s.id)),
        None => Err(json!({
            "ok": false,
            "error": "no such staff member; ask the caller or leave staff out",
            "staff": staff.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        })),
    }
}

fn name_of(staff: &[Staff], id: i64) -> String {
    staff
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.name.clone())
        .unwrap_or_default()
}

fn midnight(d: jiff::civil::Date) -> Result<Timestamp, String> {
    parse("date", &d.to_string()).map_err(|e| e.to_string())
}

/// The range asked: one `date`, or `from`..`to` (a bare `to` date counts whole), from now
/// on, at most [`MAX_DAYS`]; by default the coming week.
fn range(args: &Value, now: Timestamp) -> Result<(Timestamp, Timestamp), String> {
    let day = |key: &str| arg(args, key).and_then(|v| v.parse::<jiff::civil::Date>().ok());
    if arg(args, "date").is_some() && day("date").is_none() {
        return Err("date: write the day as YYYY-MM-DD".into());
    }
    let (from, to) = if let Some(d) = day("date") {
        (
            midnight(d)?,
            midnight(d.tomorrow().map_err(|e| e.to_string())?)?,
        )
    } else {
        let from = match arg(args, "from") {
            Some(f) => parse("from", &f).map_err(|e| e.to_string())?,
            None => now,
        };
        let to = match (day("to"), arg(args, "to")) {
            (Some(d), _) => midnight(d.tomorrow().map_err(|e| e.to_string())?)?,
            (None, Some(t)) => parse("to", &t).map_err(|e| e.to_string())?,
            (None, None) => from + SignedDuration::from_hours(24 * 7),
        };
        (from, to)
    };
    let from = from.max(now);
    if to <= from {
        return Err("that time has already passed (or the range ends before it starts)".into());
    }
    Ok((
        from,
        to.min(from + SignedDuration::from_hours(24 * MAX_DAYS)),
    ))
}

/// Minutes after midnight (Israel) of a time.
fn minute_of_day(t: Timestamp) -> i64 {
    let z = t.to_zoned_datetime(calendar::israel());
    i64::from(z.hour()) * 60 + i64::from(z.minute())
}

/// Two or three free times spread over the range: each at least an hour (or the
/// service's length) after the one before, filled from the earliest when too few.
fn pick(slots: &[Slot], duration_minutes: i64) -> Vec<Slot> {
    let mut starts: Vec<&Slot> = Vec::new();
    for s in slots {
        if starts.last().is_none_or(|l| l.start != s.start) {
            starts.push(s);
        }
    }
    let gap = SignedDuration::from_mins(duration_minutes.max(60));
    let mut chosen: Vec<Slot> = Vec::new();
    for s in &starts {
        if chosen.len() == OFFER {
            break;
        }
        if chosen.last().is_none_or(|l| s.start >= l.start + gap) {
            chosen.push(**s);
        }
    }
    for s in &starts {
        if chosen.len() >= OFFER.min(starts.len()) {
            break;
        }
        if !chosen.iter().any(|c| c.start == s.start) {
            chosen.push(**s);
        }
    }
    chosen.sort_by_key(|s| s.start);
    chosen
}

fn slot_view(s: &Slot, staff: &[Staff], now: Timestamp) -> Value {
    json!({
        "start": show_ts(s.start),
        "spoken": spoken::when(s.start, now),
        "staff": name_of(staff, s.staff_id),
    })
}

impl PhoneBook {
    fn service(&self, args: &Value) -> Result<&Service, Value> {
        let found = match arg(args, "service") {
            None if self.services.len() == 1 => self.services.first(),
            None => None,
            Some(q) => by_name(&self.services, &q, |s| s.id, |s| &s.name),
        };
        found.ok_or_else(|| {
            json!({
                "ok": false,
                "error": "which service? ask the caller, then call again with one of these",
                "services": self.services.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            })
        })
    }

    /// Free times of `service` (with `only`) starting in `[from, to)`, and the staff.
    async fn free(
        &self,
        service: &Service,
        only: Option<i64>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<Slot>, Vec<Staff>), String> {
        let setup = avail::load(&self.db, self.google.as_ref(), self.business_id, from, to)
            .await
            .map_err(db_err)?;
        let givers = setup.givers(service.id, only);
        let slots = avail::free(
            &self.db,
            self.business_id,
            &setup,
            service,
            &givers,
            from,
            to,
        )
        .await
        .map_err(db_err)?;
        Ok((slots, setup.staff))
    }

    /// Up to three free times from `at` on, for a refusal to offer instead.
    async fn next_free(&self, service: &Service, only: Option<i64>, at: Timestamp) -> Answer {
        let now = Timestamp::now();
        let from = at.max(now);
        let to = from + SignedDuration::from_hours(24 * NEAREST_DAYS);
        let (slots, staff) = self.free(service, only, from, to).await?;
        let offer: Vec<Value> = pick(&slots, service.duration_minutes)
            .iter()
            .map(|s| slot_view(s, &staff, now))
            .collect();
        Ok(Value::Array(offer))
    }

    pub(super) async fn find(&self, args: &Value) -> Answer {
        let service = match self.service(args) {
            Ok(s) => s.clone(),
            Err(refusal) => return Ok(refusal),
        };
        let now = Timestamp::now();
        let (from, to) = range(args, now)?;
        let hour = |key: &str| -> Result<Option<i64>, String> {
            arg(args, key)
                .map(|v| parse_hhmm(key, &v).map_err(|e| e.to_string()))
                .transpose()
        };
        let (after, before) = (hour("after")?, hour("before")?);
        let within = |s: &Slot| {
            let m = minute_of_day(s.start);
            after.is_none_or(|a| m >= a) && before.is_none_or(|b| m < b)
        };
        let staff = setup::list_staff(&self.db, self.business_id)
            .await
            .map_err(db_err)?;
        let only = match staff_of(&staff, args) {
            Ok(o) => o,
            Err(refusal) => return Ok(refusal),
        };
        let about = json!({ "id": service.id, "name": service.name, "duration_minutes": service.duration_minutes });
        let (slots, staff) = self.free(&service, only, from, to).await?;
        let fitting: Vec<Slot> = slots.into_iter().filter(within).collect();
        if !fitting.is_empty() {
            let offer: Vec<Value> = pick(&fitting, service.duration_minutes)
                .iter()
                .map(|s| slot_view(s, &staff, now))
                .collect();
            return Ok(json!({
                "service": about, "from": show_ts(from), "to": show_ts(to),
                "slots": offer, "free_in_range": fitting.len(),
            }));
        }
        // Nothing there: the nearest free times before or after it, at the hours asked
        // when there are such.
        let wide_from = (from - SignedDuration::from_hours(24 * 7)).max(now);
        let wide_to = to + SignedDuration::from_hours(24 * NEAREST_DAYS);
        let (around, staff) = self.free(&service, only, wide_from, wide_to).await?;
        let at_hours: Vec<Slot> = around.iter().copied().filter(within).collect();
        let mut near = if at_hours.is_empty() {
            around
        } else {
            at_hours
        };
        let distance = |s: &Slot| {
            if s.start < from {
                from.duration_since(s.start)
            } else {
                s.start.duration_since(to)
            }
        };
        near.sort_by_key(|s| (distance(s), s.start));
        near.dedup_by_key(|s| s.start);
        near.truncate(OFFER);
        near.sort_by_key(|s| s.start);
        Ok(json!({
            "service": about, "from": show_ts(from), "to": show_ts(to), "slots": [],
            "note": "nothing is free in the range asked; offer these nearest free times, or a call back",
            "nearest": near.iter().map(|s| slot_view(s, &staff, now)).collect::<Vec<_>>(),
        }))
    }

    /// The start of a booking or a move: a five-minute step, not in the past.
    fn start(args: &Value) -> Result<Timestamp, String> {
        let raw = arg(args, "start").ok_or("start is required (YYYY-MM-DDTHH:MM)")?;
        let start = parse("start", &raw).map_err(|e| e.to_string())?;
        if start.as_millisecond() % GRANULE_MS != 0 {
            return Err(
                "start must be on a five-minute step; use a start find_free_slots gave".into(),
            );
        }
        if start < Timestamp::now() {
            return Err("that time has already passed".into());
        }
        Ok(start)
    }

    /// A refusal the model can act on, with the next free times to offer.
    async fn refused(
        &self,
        error: &str,
        service: &Service,
        only: Option<i64>,
        at: Timestamp,
    ) -> Answer {
        let next = self.next_free(service, only, at).await?;
        Ok(json!({ "ok": false, "error": error, "next_free": next }))
    }

    fn view(&self, a: &Appointment, services: &[Service], staff: &[Staff]) -> Value {
        let start = Timestamp::from_millisecond(a.starts_at).unwrap_or(Timestamp::UNIX_EPOCH);
        json!({
            "id": a.id,
            "service": services.iter().find(|s| s.id == a.service_id).map(|s| s.name.clone()),
            "start": show(a.starts_at),
            "end": show(a.ends_at),
            "spoken": spoken::when(start, Timestamp::now()),
            "staff": name_of(staff, a.staff_id),
            "name": a.customer_name,
            "phone": a.customer_phone,
        })
    }

    async fn view_fresh(&self, id: i64) -> Answer {
        let a = store::get(&self.db, self.business_id, id)
            .await
            .map_err(db_err)?
            .ok_or(UNAVAILABLE)?;
        let services = setup::list_services(&self.db, self.business_id)
            .await
            .map_err(db_err)?;
        let staff = setup::list_staff(&self.db, self.business_id)
            .await
            .map_err(db_err)?;
        Ok(self.view(&a, &services, &staff))
    }

    pub(super) async fn book(&self, args: &Value) -> Answer {
        if self.booked.load(Ordering::SeqCst) >= MAX_BOOKINGS {
            return Err(
                "this call has booked as many appointments as one call may; offer a call back"
                    .into(),
            );
        }
        let service = match self.service(args) {
            Ok(s) => s.clone(),
            Err(refusal) => return Ok(refusal),
        };
        let start = Self::start(args)?;
        let name = arg(args, "name")
            .filter(|n| n.chars().count() <= 200)
            .ok_or("ask the caller's name, then call again with it")?;
        let phone = match arg(args, "phone") {
            Some(p) => {
                Phone::parse(&p).map_err(|_| "that phone number is not valid; ask for it again")?
            }
            None => self.caller.clone().ok_or(
                "the caller's number is unknown; ask for a phone number and pass it as phone",
            )?,
        };
        let end = start + SignedDuration::from_mins(service.duration_minutes);
        let setup = avail::load(&self.db, self.google.as_ref(), self.business_id, start, end)
            .await
            .map_err(db_err)?;
        let only = match staff_of(&setup.staff, args) {
            Ok(o) => o,
            Err(refusal) => return Ok(refusal),
        };
        let options = placements(&setup, &service, only, start);
        if options.is_empty() && anyone_works(&setup, &service, only, start) {
            return self
                .refused(
                    "slot_taken: that time is taken; offer the next free times",
                    &service,
                    only,
                    start,
                )
                .await;
        }
        if options.is_empty() {
            return self
                .refused(
                    "closed: the business (or that staff member) does not work at that time",
                    &service,
                    only,
                    start,
                )
                .await;
        }
        let customer_id = customers::by_phone(&self.db, self.business_id, &phone)
            .await
            .ok()
            .flatten()
            .map(|c| c.id);
        for at in options {
            let new = NewAppointment {
                service_id: service.id,
                at,
                customer_id,
                customer_name: Some(name.clone()),
                customer_phone: Some(phone.to_string()),
                source: self.source.into(),
                notes: String::new(),
                call_id: self.call_id,
            };
            match store::book(&self.db, self.business_id, &new).await {
                Ok(id) => {
                    self.booked.fetch_add(1, Ordering::SeqCst);
                    super::events::booked(&self.db, self.business_id, id).await;
                    super::sync::changed(&self.db, self.business_id, id).await;
                    return Ok(
                        json!({ "booked": true, "appointment": self.view_fresh(id).await? }),
                    );
                }
                Err(BookError::Taken) => continue,
                Err(BookError::Db(e)) => return Err(db_err(e)),
            }
        }
        self.refused(
            "slot_taken: that time was just taken; offer the next free times",
            &service,
            only,
            start,
        )
        .await
    }

    fn caller(&self) -> Result<&Phone, String> {
        self.caller
            .as_ref()
            .ok_or_else(|| "the caller's number is unknown, so their appointments cannot be found; take a message".into())
    }

    pub(super) async fn mine(&self) -> Answer {
        let phone = self.caller()?;
        let now = Timestamp::now().as_millisecond();
        let rows = appointments_caller::upcoming_for_phone(
            &self.db,
            self.business_id,
            phone.as_str(),
            now,
            10,
        )
        .await
        .map_err(db_err)?;
        let services = setup::list_services(&self.db, self.business_id)
            .await
            .map_err(db_err)?;
        let staff = setup::list_staff(&self.db, self.business_id)
            .await
            .map_err(db_err)?;
        let list: Vec<Value> = rows
            .iter()
            .map(|a| self.view(a, &services, &staff))
            .collect();
        Ok(json!({ "phone": phone.as_str(), "appointments": list }))
    }

    /// One of the caller's own booked appointments (anyone else's is as if absent).
    async fn own(&self, args: &Value) -> Result<Appointment, String> {
        let phone = self.caller()?;
        let id = arg(args, "appointment_id")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or("appointment_id is required: find it with my_appointments")?;
        let missing = || "no such appointment of this caller; check my_appointments".to_string();
        let a = store::get(&self.db, self.business_id, id)
            .await
            .map_err(db_err)?
            .ok_or_else(missing)?;
        if a.customer_phone.as_deref() != Some(phone.as_str()) {
            return Err(missing());
        }
        if a.status != "booked" {
            return Err("that appointment is already cancelled".into());
        }
        Ok(a)
    }

    pub(super) async fn cancel(&self, args: &Value) -> Answer {
        let a = self.own(args).await?;
        if !store::cancel_as(&self.db, self.business_id, a.id, "caller", None)
            .await
            .map_err(db_err)?
        {
            return Err("that appointment is already cancelled".into());
        }
        super::events::cancelled(&self.db, self.business_id, a.id, "caller").await;
        super::sync::changed(&self.db, self.business_id, a.id).await;
        Ok(json!({ "cancelled": true, "appointment": self.view_fresh(a.id).await? }))
    }

    pub(super) async fn move_one(&self, args: &Value) -> Answer {
        let a = self.own(args).await?;
        let service = setup::get_service(&self.db, self.business_id, a.service_id)
            .await
            .map_err(db_err)?
            .ok_or(UNAVAILABLE)?;
        let start = Self::start(args)?;
        let end = start + SignedDuration::from_mins(service.duration_minutes);
        let setup = avail::load(&self.db, self.google.as_ref(), self.business_id, start, end)
            .await
            .map_err(db_err)?;
        let only = match staff_of(&setup.staff, args) {
            Ok(o) => o,
            Err(refusal) => return Ok(refusal),
        };
        // The same staff member first, unless the caller named another.
        let mut options: Vec<Placement> = placements(&setup, &service, only, start);
        options.sort_by_key(|p| p.staff_id != a.staff_id);
        if options.is_empty() && anyone_works(&setup, &service, only, start) {
            return self
                .refused(
                    "slot_taken: that time is taken; offer the next free times",
                    &service,
                    only,
                    start,
                )
                .await;
        }
        if options.is_empty() {
            return self
                .refused(
                    "closed: the business (or that staff member) does not work at that time",
                    &service,
                    only,
                    start,
                )
                .await;
        }
        for at in options {
            match store::move_to(&self.db, self.business_id, a.id, &at).await {
                Ok(true) => {
                    super::events::moved(&self.db, self.business_id, a.id).await;
                    super::sync::changed(&self.db, self.business_id, a.id).await;
                    return Ok(
                        json!({ "moved": true, "appointment": self.view_fresh(a.id).await? }),
                    );
                }
                Ok(false) => return Err("that appointment is already cancelled".into()),
                Err(BookError::Taken) => continue,
                Err(BookError::Db(e)) => return Err(db_err(e)),
            }
        }
        self.refused(
            "slot_taken: that time is taken; offer the next free times",
            &service,
            only,
            start,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(hhmm: &str, staff_id: i64) -> Slot {
        let start: Timestamp = format!("2027-01-05T{hhmm}:00+02:00").parse().unwrap();
        Slot {
            staff_id,
            start,
            end: start + SignedDuration::from_mins(30),
        }
    }

    #[test]
    fn offers_are_spread_over_the_day_and_filled_when_few() {
        let day: Vec<Slot> = [
            "09:00", "09:00", "09:15", "09:30", "10:00", "10:15", "11:30", "12:00",
        ]
        .iter()
        .enumerate()
        .map(|(i, h)| slot(h, i as i64 % 2))
        .collect();
        let got: Vec<String> = pick(&day, 30).iter().map(|s| show_ts(s.start)).collect();
        assert_eq!(
            got,
            [
                "2027-01-05T09:00:00+02:00",
                "2027-01-05T10:00:00+02:00",
                "2027-01-05T11:30:00+02:00"
            ]
        );
        let few = [slot("09:00", 1), slot("09:15", 1)];
        assert_eq!(pick(&few, 30).len(), 2);
        assert!(pick(&[], 30).is_empty());
    }

    #[test]
    fn ranges_are_whole_israel_days_and_never_in_the_past() {
        let now: Timestamp = "2027-01-04T08:00:00Z".parse().unwrap();
        let (a, b) = range(&json!({"date": "2027-01-05"}), now).unwrap();
        assert_eq!(
            (show_ts(a).as_str(), show_ts(b).as_str()),
            ("2027-01-05T00:00:00+02:00", "2027-01-06T00:00:00+02:00")
        );
        let (a, b) = range(&json!({"from": "2027-01-01", "to": "2027-01-06"}), now).unwrap();
        assert_eq!(a, now, "from now on");
        assert_eq!(
            show_ts(b),
            "2027-01-07T00:00:00+02:00",
            "the last day counts whole"
        );
        assert!(range(&json!({"date": "2026-12-01"}), now).is_err());
        assert!(range(&json!({"date": "מחר"}), now).is_err());
        let (a, b) = range(&json!({"from": "2027-01-05", "to": "2027-06-01"}), now).unwrap();
        assert_eq!(
            b.duration_since(a),
            SignedDuration::from_hours(24 * MAX_DAYS)
        );
    }
}
