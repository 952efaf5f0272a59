//! Twilio's protocols, kept free of any database or web framework so that the
//! server, the call simulator and tests can all speak them identically: TwiML,
//! X-Twilio-Signature, Media Streams messages, and the REST client.
//!
//! ```
//! use telephony::twiml::{Connect, Response, Stream};
//!
//! let xml = Response::new()
//!     .connect(Connect::new(Stream::new("wss://h.test/ws").parameter("token", "t")))
//!     .to_xml();
//! assert!(xml.contains(r#"<Parameter name="token" value="t"/>"#));
//! assert_eq!(telephony::twiml::parse(&xml).unwrap().to_xml(), xml);
//! ```
#![forbid(unsafe_code)]

pub mod media;
pub mod rest;
pub mod signature;
pub mod twiml;

pub use media::{MediaParseError, ServerMessage, StreamEvent};
pub use rest::{RestConfig, TwilioClient, TwilioError};
pub use twiml::TwimlError;
