//! Twilio's protocols, kept free of any database or web framework so that the
//! server, the call simulator and tests can all speak them identically: TwiML,
//! X-Twilio-Signature, Media Streams messages, and the REST client.
#![forbid(unsafe_code)]

pub mod signature;
