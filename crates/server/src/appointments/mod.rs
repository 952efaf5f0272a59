//! Appointments (#19, X3, X2): what a business offers and who gives it ([`setup`]:
//! `/api/services`, `/api/staff`, `/api/appointment-settings`), and the bookings
//! themselves with the free times around them ([`booking`]: `/api/appointments`,
//! `/api/availability`). Israel's calendar (Shabbat, holidays, sunset, the clock changes)
//! and the slot arithmetic are the `calendar` crate's; the no-double-booking guarantee is
//! the database's (store/appointments.rs). Everything is tenant-scoped through
//! [`crate::auth::Tenant`] like the rest of the CRM API (C4); bad input is refused with a
//! Hebrew message, a taken time with 409 and the next free time. On a call, the same book
//! is the receptionist's tools ([`host`], [`phone_book`]; times said as [`spoken`]).
//! Whatever the path, [`events`] follows each booking, move and cancellation: webhooks,
//! the customer's WhatsApp confirmation and day-before reminder ([`notices`]), their
//! "1"/"2" answer ([`answers`]), and the business's users' notifications.

pub mod answers;
pub mod avail;
pub mod booking;
pub mod closures;
pub mod events;
pub mod feed;
pub mod gauth;
pub mod gcal;
pub mod host;
pub mod notices;
mod phone_book;
pub mod setup;
pub mod spoken;
pub mod sync;
pub mod time;

use axum::Router;

use crate::crm::state::CrmState;

pub fn router() -> Router<CrmState> {
    Router::new()
        .merge(setup::router())
        .merge(booking::router())
        .merge(closures::router())
        .merge(feed::router())
}
