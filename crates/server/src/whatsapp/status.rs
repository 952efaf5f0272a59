//! The order delivery statuses move in (W4), shared by every provider: the ranks and the
//! parsing of providers' status words are the store's ([`crate::store::whatsapp::delivery`]),
//! since its forward-only updates order by them; the providers name them from here.

pub use crate::store::whatsapp::delivery::*;
