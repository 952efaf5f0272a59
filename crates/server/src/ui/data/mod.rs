//! The web app's reads and its few writes, named as its pages use them. The queries are
//! the store's ([`crate::store`]); what is here is how the app labels and groups what they
//! return. Every function that touches tenant data takes the `business_id` it is scoped to
//! first (C4); rows of another business are never found.

pub mod admin;
pub mod calls;
pub mod leads;
pub mod optional;
pub mod settings;
pub mod whatsapp;
