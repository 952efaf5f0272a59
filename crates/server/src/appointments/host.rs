//! The appointment book as the receptionist's tools (#19, #18.3; X3, X2): on a call to a
//! business that offers at least one service, the model can find free times, book, list
//! the caller's own appointments, and cancel or move one, with real answers from the
//! database while the caller waits. It is [`voice::tool_host::ToolHost`] for that one call:
//! everything is scoped to the call's business (C4), and "own" means booked with the
//! number the caller rings from. The work itself is in [`super::phone_book`]; every write
//! goes through the store's booking functions, so the database's no-double-booking
//! guarantee holds for the phone exactly as for the API.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{Value, json};
use voice::tool_host::{HostFunction, ToolHost};

use super::gcal::Google;
use super::spoken;
use crate::domain::Phone;
use crate::store::Db;
use crate::store::scheduling::{self as setup, Service};

/// How long loading the services may hold the start of a call.
const LOAD_TIMEOUT: Duration = Duration::from_millis(400);

/// One call's appointment book.
pub struct PhoneBook {
    pub(super) db: Db,
    pub(super) business_id: i64,
    /// The caller's number, normalised (`None`: withheld or unreadable).
    pub(super) caller: Option<Phone>,
    pub(super) services: Vec<Service>,
    /// Appointments booked on this call (a hostile caller cannot fill the calendar).
    pub(super) booked: AtomicUsize,
    /// The call this book serves: bookings made on it are linked to it.
    pub(super) call_id: Option<i64>,
    /// Where its bookings come from: `phone`, or `whatsapp` for a written conversation.
    pub(super) source: &'static str,
    /// Staff members' Google Calendars, whose busy times are not offered.
    pub(super) google: Option<Google>,
}

impl PhoneBook {
    pub fn new(db: Db, business_id: i64, caller: Option<&str>, services: Vec<Service>) -> Self {
        PhoneBook {
            db,
            business_id,
            caller: caller.and_then(|c| Phone::parse(c).ok()),
            services,
            booked: AtomicUsize::new(0),
            call_id: None,
            source: "phone",
            google: None,
        }
    }

    /// The same book for a WhatsApp conversation: its bookings say they came from there,
    /// and the number is the one the customer writes from.
    pub fn in_writing(mut self) -> Self {
        self.source = "whatsapp";
        self
    }

    /// The same book, its bookings linked to call `call_id`.
    pub fn on_call(mut self, call_id: i64) -> Self {
        self.call_id = Some(call_id);
        self
    }
}

/// The appointment tools for a call of `business_id` from `caller`, or `None` when the
/// business offers no service (or its services cannot be read in time: the call goes on
/// without them).
pub async fn for_call(
    db: &Db,
    business_id: i64,
    call_id: Option<i64>,
    caller: Option<&str>,
) -> Option<Arc<dyn ToolHost>> {
    for_call_with(db, None, business_id, call_id, caller).await
}

/// [`for_call`], with the Google account staff calendars are shared with, whose busy
/// times are never offered.
pub async fn for_call_with(
    db: &Db,
    google: Option<Google>,
    business_id: i64,
    call_id: Option<i64>,
    caller: Option<&str>,
) -> Option<Arc<dyn ToolHost>> {
    let mut book = load(db, business_id, caller).await?;
    book.google = google;
    Some(Arc::new(match call_id {
        Some(id) => book.on_call(id),
        None => book,
    }))
}

/// The appointment tools for a WhatsApp conversation of `business_id` with `customer`
/// (#19: booking in writing, with the same book, the same staff calendars and the same
/// guarantee as on the phone).
pub async fn for_whatsapp(
    db: &Db,
    google: Option<Google>,
    business_id: i64,
    customer: &str,
) -> Option<Arc<dyn ToolHost>> {
    let mut book = load(db, business_id, Some(customer)).await?;
    book.google = google;
    Some(Arc::new(book.in_writing()))
}

async fn load(db: &Db, business_id: i64, caller: Option<&str>) -> Option<PhoneBook> {
    let services = match tokio::time::timeout(LOAD_TIMEOUT, setup::list_services(db, business_id))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(business_id, error = %e, "cannot read services: no appointment tools");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                business_id,
                "services not read in time: no appointment tools"
            );
            return None;
        }
    };
    if services.is_empty() {
        return None;
    }
    Some(PhoneBook::new(db.clone(), business_id, caller, services))
}

fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> HostFunction {
    HostFunction {
        name: name.into(),
        description: description.into(),
        parameters: json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        }),
    }
}

fn s(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// The functions, with their JSON schemas.
pub fn functions() -> Vec<HostFunction> {
    let service = s("the service, by its name as listed in the instructions (or its id)");
    let staff = s("a staff member's name, only when the caller asked for someone");
    let id =
        json!({ "type": "integer", "description": "the appointment's id from my_appointments" });
    let start = s("the start in Israel time, YYYY-MM-DDTHH:MM, as a free time's `start` gave it");
    vec![
        function(
            "find_free_slots",
            "Find free times for a service on a day or in a range (Israel time). Answers two or \
             three times to offer, each with `spoken` (say it as is) and `start` (use it to book); \
             when nothing is free there, the nearest free times.",
            json!({
                "service": service,
                "date": s("one day, YYYY-MM-DD"),
                "from": s("start of a range, YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
                "to": s("end of a range, YYYY-MM-DD (inclusive) or YYYY-MM-DDTHH:MM"),
                "after": s("only times starting at or after this hour, HH:MM (e.g. 16:00)"),
                "before": s("only times starting before this hour, HH:MM (e.g. 12:00 for a morning)"),
                "staff": staff,
            }),
            &[],
        ),
        function(
            "book_appointment",
            "Book an appointment once the caller agreed to a time and gave a name. The phone \
             defaults to the number the caller rings from (confirm it aloud). When the time was \
             just taken, answers ok=false with the next free times to offer.",
            json!({
                "service": service,
                "start": start,
                "name": s("the caller's name"),
                "phone": s("a phone number, only if the caller gave another one"),
                "staff": staff,
            }),
            &["start", "name"],
        ),
        function(
            "my_appointments",
            "The caller's upcoming appointments with this business, found by the number they \
             ring from.",
            json!({}),
            &[],
        ),
        function(
            "cancel_appointment",
            "Cancel one of the caller's own appointments (from my_appointments) after the \
             caller confirmed.",
            json!({ "appointment_id": id }),
            &["appointment_id"],
        ),
        function(
            "move_appointment",
            "Move one of the caller's own appointments to another free time (find it with \
             find_free_slots first). When the time is taken, answers the next free times.",
            json!({ "appointment_id": id, "start": start, "staff": staff }),
            &["appointment_id", "start"],
        ),
    ]
}

/// How the model is told to use the book: the services, today, and the rules.
pub fn instructions(services: &[Service], now: Timestamp) -> String {
    let list: Vec<String> = services
        .iter()
        .take(30)
        .map(|s| {
            let price = s
                .price_agorot
                .map(|p| format!(", {} ₪", p as f64 / 100.0))
                .unwrap_or_default();
            format!("{} ({} דקות{price})", s.name, s.duration_minutes)
        })
        .collect();
    format!(
        "קביעת תורים: יש לך גישה ליומן של העסק דרך כלים.\n\
         - השירותים: {}.\n\
         - היום {} (שעון ישראל). תאריכים ושעות לכלים בשעון ישראל: YYYY-MM-DD או YYYY-MM-DDTHH:MM.\n\
         - כשמבקשים תור, קרא/י ל-find_free_slots והצע/י שתיים או שלוש מהשעות שחזרו, כפי שהן כתובות ב-spoken.\n\
         - לפני הקביעה ודא/י שירות, שעה ושם, ואשר/י בקול את מספר הטלפון (ברירת המחדל: המספר שממנו מתקשרים); \
         אז קרא/י ל-book_appointment עם start מהתוצאה.\n\
         - אל תאמר/י שהתור נקבע לפני שהכלי החזיר ok: true. אם השעה נתפסה, הצע/י את השעות שב-next_free.\n\
         - לתורים שהמתקשר כבר קבע: my_appointments, ואז cancel_appointment או move_appointment.\n\
         - אם שום שעה לא מתאימה, הצע/י את הקרובות ביותר או קבל/י בקשה לחזרה (request_callback).\n",
        list.join(", "),
        spoken::today(now)
    )
}

#[async_trait]
impl ToolHost for PhoneBook {
    fn functions(&self) -> Vec<HostFunction> {
        functions()
    }

    fn instructions(&self) -> Option<String> {
        let text = instructions(&self.services, Timestamp::now());
        Some(if self.source == "whatsapp" {
            format!(
                "{text}- השיחה בכתב, בוואטסאפ: מספר הטלפון הוא המספר שממנו הלקוח/ה כותב/ת; \
                 כתוב/י את השעות כפי שהן ב-spoken.\n"
            )
        } else {
            text
        })
    }

    async fn call(&self, name: &str, arguments: &Value) -> Result<Value, String> {
        let mut result = match name {
            "find_free_slots" => self.find(arguments).await,
            "book_appointment" => self.book(arguments).await,
            "my_appointments" => self.mine().await,
            "cancel_appointment" => self.cancel(arguments).await,
            "move_appointment" => self.move_one(arguments).await,
            _ => return Err("unknown tool".into()),
        };
        if let Ok(Value::Object(map)) = &mut result {
            map.entry("ok").or_insert(Value::Bool(true));
        }
        tracing::info!(
            tool = name,
            business_id = self.business_id,
            ok = result.as_ref().is_ok_and(|v| v["ok"] != false),
            "appointment tool"
        );
        result
    }
}
