//! Twilio Media Streams: the JSON messages exchanged over the call's WebSocket.
//!
//! The server reads caller audio from these messages and writes the agent's
//! speech back; the simulator plays the opposite side. Sharing one set of serde
//! types keeps the wire format (camelCase names, numbers sent as strings, base64
//! audio) defined in exactly one place.

mod inbound;
mod outbound;
mod parse;
mod tagged;

pub use inbound::{
    ConnectedFrame, Dtmf, DtmfFrame, MarkFrame, MarkName, MediaFields, MediaFormat, MediaFrame,
    StartFrame, StartMeta, StopFrame, StopMeta, StreamEvent,
};
pub use outbound::{MediaWriter, OutMedia, ServerMessage};
pub use parse::{MediaParseError, parse_event, parse_inbound, parse_server_message};

#[cfg(test)]
mod tests;
