//! Appointments as lines a person reads, on a call's summary card ("נקבע תור בשיחה") and on
//! a lead's page (#22, #19, C2): the day and hour in Israel's time, the service and who
//! gives it, and whether it still stands. Names come from the business's own records or
//! from the caller (hostile), and askama escapes them.

use jiff::Timestamp;

use super::time;
use crate::store::appointments_view::AppointmentLine;

pub struct ApptLine {
    pub id: i64,
    /// "מחר, יום שלישי 8 בדצמבר, בשעה 10:00".
    pub when: String,
    pub when_iso: String,
    /// "תספורת · אצל דנה".
    pub what: String,
    pub cancelled: bool,
    /// Who booked it: the receptionist on a call, the staff, WhatsApp.
    pub by: &'static str,
}

fn by(source: &str) -> &'static str {
    match source {
        "phone" => "נקבע בשיחה עם הנציג/ה",
        "whatsapp" => "נקבע בוואטסאפ",
        _ => "נקבע בידי הצוות",
    }
}

pub fn lines(rows: Vec<AppointmentLine>, now_ms: i64) -> Vec<ApptLine> {
    let now = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
    rows.into_iter()
        .map(|a| ApptLine {
            id: a.id,
            when: Timestamp::from_millisecond(a.starts_at)
                .map(|t| crate::appointments::spoken::when(t, now))
                .unwrap_or_else(|_| time::datetime(a.starts_at)),
            when_iso: time::iso(a.starts_at),
            what: format!("{} · אצל {}", a.service_name, a.staff_name),
            cancelled: a.status == "cancelled",
            by: by(&a.source),
        })
        .collect()
}
