//! A user's notification preferences (#22): which events, which channels, quiet hours.
//!
//! Stored in `notification_prefs` (`store::notify`). A user with no row gets the default:
//! an owner is e-mailed `call.summarised` and `call.urgent`; an agent gets nothing until
//! they choose. The API and the web app read and write the same [`Prefs`].

use serde::{Deserialize, Serialize};

use super::quiet::{Daily, Quiet};
use super::{Channel, Event};
use crate::domain::Phone;
use crate::store::notify::{PrefsRow, Recipient};
use crate::store::users::Role;

/// `{"from":"22:00","to":"07:00"}`, Israel's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub from: String,
    pub to: String,
}

/// A user's preferences as the API shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prefs {
    pub events: Vec<Event>,
    pub email_on: bool,
    pub whatsapp_on: bool,
    /// E.164: the user's own phone, for WhatsApp.
    pub whatsapp_phone: Option<String>,
    pub quiet_hours: Option<QuietHours>,
    pub shabbat_quiet: bool,
}

impl Prefs {
    /// The default of a user who chose nothing.
    pub fn default_for(role: Option<Role>) -> Prefs {
        let owner = role == Some(Role::Owner);
        Prefs {
            events: if owner {
                vec![Event::CallSummarised, Event::CallUrgent]
            } else {
                Vec::new()
            },
            email_on: owner,
            whatsapp_on: false,
            whatsapp_phone: None,
            quiet_hours: None,
            shabbat_quiet: false,
        }
    }

    /// A stored row; anything unreadable in it reads as not chosen.
    pub fn from_row(row: &PrefsRow) -> Prefs {
        Prefs::from_parts(
            &row.events,
            row.email_on,
            row.whatsapp_on,
            row.whatsapp_phone.clone(),
            row.quiet_hours.as_deref(),
            row.shabbat_quiet,
        )
    }

    fn from_parts(
        events: &str,
        email_on: i64,
        whatsapp_on: i64,
        whatsapp_phone: Option<String>,
        quiet_hours: Option<&str>,
        shabbat_quiet: i64,
    ) -> Prefs {
        let names: Vec<String> = serde_json::from_str(events).unwrap_or_default();
        Prefs {
            events: names.iter().filter_map(|n| Event::parse(n)).collect(),
            email_on: email_on != 0,
            whatsapp_on: whatsapp_on != 0,
            whatsapp_phone,
            quiet_hours: quiet_hours
                .and_then(|q| serde_json::from_str::<QuietHours>(q).ok())
                .filter(|q| parse_daily(q).is_some()),
            shabbat_quiet: shabbat_quiet != 0,
        }
    }

    /// A business user's preferences: theirs, or the default of their role.
    pub fn of(r: &Recipient) -> Prefs {
        match &r.events {
            Some(events) => Prefs::from_parts(
                events,
                r.email_on.unwrap_or(0),
                r.whatsapp_on.unwrap_or(0),
                r.whatsapp_phone.clone(),
                r.quiet_hours.as_deref(),
                r.shabbat_quiet.unwrap_or(0),
            ),
            None => Prefs::default_for(Role::parse(&r.role)),
        }
    }

    /// The channels a message goes out on.
    pub fn channels(&self) -> Vec<Channel> {
        let mut out = Vec::new();
        if self.email_on {
            out.push(Channel::Email);
        }
        if self.whatsapp_on && self.whatsapp_phone.is_some() {
            out.push(Channel::Whatsapp);
        }
        out
    }

    pub fn quiet(&self) -> Quiet {
        Quiet {
            daily: self.quiet_hours.as_ref().and_then(parse_daily),
            shabbat: self.shabbat_quiet,
        }
    }

    /// The row to store for `user_id`.
    pub fn to_row(&self, user_id: i64) -> PrefsRow {
        let names: Vec<&str> = self.events.iter().map(|e| e.as_str()).collect();
        PrefsRow {
            user_id,
            events: serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()),
            email_on: i64::from(self.email_on),
            whatsapp_on: i64::from(self.whatsapp_on),
            whatsapp_phone: self.whatsapp_phone.clone(),
            quiet_hours: self
                .quiet_hours
                .as_ref()
                .and_then(|q| serde_json::to_string(q).ok()),
            shabbat_quiet: i64::from(self.shabbat_quiet),
            updated_at: 0,
        }
    }
}

fn parse_daily(q: &QuietHours) -> Option<Daily> {
    Some(Daily {
        from: Daily::parse_hhmm(&q.from)?,
        to: Daily::parse_hhmm(&q.to)?,
    })
}

/// A request to set preferences: every field optional, a field left out keeps its value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefsUpdate {
    pub events: Option<Vec<String>>,
    pub email_on: Option<bool>,
    pub whatsapp_on: Option<bool>,
    #[serde(default, deserialize_with = "crate::crm::patch::some")]
    pub whatsapp_phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::crm::patch::some")]
    pub quiet_hours: Option<Option<QuietHours>>,
    pub shabbat_quiet: Option<bool>,
}

/// Why an update was refused: the field and what is wrong (English, for the API).
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl PrefsUpdate {
    /// `current` with this update applied, checked.
    pub fn apply(self, current: &Prefs) -> Result<Prefs, Invalid> {
        let mut p = current.clone();
        if let Some(names) = self.events {
            let mut events = Vec::new();
            for n in &names {
                let e = Event::parse(n.trim()).ok_or_else(|| {
                    Invalid(format!(
                        "events: unknown event `{n}` (call.summarised, call.urgent, appointment.booked, appointment.cancelled)"
                    ))
                })?;
                if !events.contains(&e) {
                    events.push(e);
                }
            }
            p.events = events;
        }
        if let Some(on) = self.email_on {
            p.email_on = on;
        }
        if let Some(on) = self.whatsapp_on {
            p.whatsapp_on = on;
        }
        if let Some(phone) = self.whatsapp_phone {
            p.whatsapp_phone = match phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(raw) => Some(
                    Phone::parse(raw)
                        .map_err(|_| Invalid("whatsapp_phone: not a phone number".into()))?
                        .to_string(),
                ),
            };
        }
        if let Some(q) = self.quiet_hours {
            p.quiet_hours = match q {
                None => None,
                Some(q) => {
                    let daily = parse_daily(&q).ok_or_else(|| {
                        Invalid("quiet_hours: from and to must be times like 22:00".into())
                    })?;
                    Some(QuietHours {
                        from: Daily::hhmm(daily.from),
                        to: Daily::hhmm(daily.to),
                    })
                }
            };
        }
        if let Some(on) = self.shabbat_quiet {
            p.shabbat_quiet = on;
        }
        if p.whatsapp_on && p.whatsapp_phone.is_none() {
            return Err(Invalid(
                "whatsapp_phone: required to turn WhatsApp notifications on".into(),
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_who_chose_nothing_gets_summaries_and_urgent_calls_by_email() {
        let p = Prefs::default_for(Some(Role::Owner));
        assert_eq!(p.events, [Event::CallSummarised, Event::CallUrgent]);
        assert_eq!(p.channels(), [Channel::Email]);
        assert!(Prefs::default_for(Some(Role::Agent)).events.is_empty());
    }

    #[test]
    fn an_update_is_checked_and_round_trips_through_the_row() {
        let base = Prefs::default_for(Some(Role::Agent));
        let u: PrefsUpdate = serde_json::from_value(serde_json::json!({
            "events": ["call.urgent", "appointment.booked", "call.urgent"],
            "whatsapp_on": true, "whatsapp_phone": "050-1234567",
            "quiet_hours": {"from": "22:00", "to": "7:00"}, "shabbat_quiet": true
        }))
        .unwrap();
        let p = u.apply(&base).unwrap();
        assert_eq!(p.events, [Event::CallUrgent, Event::AppointmentBooked]);
        assert_eq!(p.whatsapp_phone.as_deref(), Some("+972501234567"));
        assert_eq!(p.quiet_hours.as_ref().unwrap().to, "07:00");
        assert_eq!(Prefs::from_row(&p.to_row(1)), p);

        for bad in [
            serde_json::json!({"events": ["call.everything"]}),
            serde_json::json!({"whatsapp_on": true}),
            serde_json::json!({"whatsapp_phone": "not a phone"}),
            serde_json::json!({"quiet_hours": {"from": "25:00", "to": "07:00"}}),
        ] {
            let u: PrefsUpdate = serde_json::from_value(bad.clone()).unwrap();
            assert!(u.apply(&base).is_err(), "{bad}");
        }
    }
}
