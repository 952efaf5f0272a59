//! A call's status and direction as types, not strings.
//!
//! Twilio names them (`CallStatus`, `Direction` in its webhooks) and we add our own stages
//! after the call (`fallback_recording`, `recorded`, `transcribed`). The database keeps the
//! same TEXT values as ever; a value neither of us has named yet (Twilio adds some over
//! time) is kept as it came, never refused, so reading and writing it back loses nothing.

use std::fmt;

/// Declares a string-valued enum with a catch-all `Other` that keeps unknown values.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this code does not know, kept exactly as it came.
            Other(String),
        }

        impl $name {
            /// Reads a stored or received value; never fails.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }

            /// The value as Twilio sends it and the database stores it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                match Self::parse(&text) {
                    Self::Other(_) => Self::Other(text),
                    known => known,
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                match value {
                    $name::Other(text) => text,
                    known => known.as_str().to_string(),
                }
            }
        }

        /// Compares with the text (`row.status == "completed"`).
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// Where a call stands: Twilio's statuses, then ours once it has ended.
    CallStatus {
        Queued = "queued",
        Initiated = "initiated",
        Ringing = "ringing",
        InProgress = "in-progress",
        /// Twilio's status callback event for an answered outbound call.
        Answered = "answered",
        /// The stream failed and the caller was sent to leave a recorded message.
        FallbackRecording = "fallback_recording",
        Completed = "completed",
        Busy = "busy",
        Failed = "failed",
        NoAnswer = "no-answer",
        Canceled = "canceled",
        Recorded = "recorded",
        Transcribed = "transcribed",
    }
}

wire_enum! {
    /// Which way a call goes, as Twilio's `Direction` names it.
    CallDirection {
        Inbound = "inbound",
        /// Placed through the REST API (our outbound calls).
        OutboundApi = "outbound-api",
        /// A leg dialled by `<Dial>` from another call.
        OutboundDial = "outbound-dial",
    }
}

impl CallStatus {
    /// The order a call's status may move in (a late `ringing` never overwrites
    /// `completed`); the database keeps it beside the status. Unknown statuses rank lowest.
    pub fn rank(&self) -> i64 {
        match self {
            Self::Queued | Self::Initiated | Self::Other(_) => 0,
            Self::Ringing => 1,
            Self::InProgress | Self::Answered => 2,
            Self::FallbackRecording => 3,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled => 4,
            Self::Recorded => 5,
            Self::Transcribed => 6,
        }
    }

    /// Whether the call has ended (completed, or never connected), or a later stage.
    pub fn has_ended(&self) -> bool {
        self.rank() >= Self::Completed.rank()
    }

    /// Twilio's final statuses for a call that never connected.
    pub fn is_unanswered(&self) -> bool {
        matches!(
            self,
            Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }

    /// Twilio's final statuses: the call is over, whichever way it ended.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed) || self.is_unanswered()
    }

    /// Not yet ended: queued, dialling, ringing or talking.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Self::Queued | Self::Initiated | Self::Ringing | Self::InProgress | Self::Answered
        )
    }
}

impl CallDirection {
    /// A call we placed (through the API or a `<Dial>`), not one a caller made.
    pub fn is_outbound(&self) -> bool {
        self.as_str().starts_with("outbound")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_as_the_same_text() {
        for text in [
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "answered",
            "fallback_recording",
            "completed",
            "busy",
            "failed",
            "no-answer",
            "canceled",
            "recorded",
            "transcribed",
        ] {
            let s = CallStatus::parse(text);
            assert!(!matches!(s, CallStatus::Other(_)), "{text}");
            assert_eq!(s.as_str(), text);
            assert_eq!(serde_json::to_value(&s).unwrap(), text);
            assert_eq!(
                serde_json::from_value::<CallStatus>(text.into()).unwrap(),
                s
            );
        }
        for text in ["inbound", "outbound-api", "outbound-dial"] {
            assert_eq!(CallDirection::parse(text).as_str(), text);
        }
    }

    #[test]
    fn unknown_values_are_kept_and_rank_lowest() {
        let s = CallStatus::parse("paused");
        assert_eq!(s, CallStatus::Other("paused".into()));
        assert_eq!(s.as_str(), "paused");
        assert_eq!(s.rank(), 0);
        assert!(!s.has_ended() && !s.is_live());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#""paused""#);
        assert_eq!(serde_json::from_str::<CallStatus>(&json).unwrap(), s);
        let d = CallDirection::parse("trunking-originating");
        assert_eq!(d.to_string(), "trunking-originating");
        assert!(!d.is_outbound());
        assert!(CallDirection::parse("outbound-future").is_outbound());
    }

    #[test]
    fn ranks_keep_their_order() {
        assert!(CallStatus::Ringing.rank() < CallStatus::InProgress.rank());
        assert!(CallStatus::InProgress.rank() < CallStatus::Completed.rank());
        assert_eq!(CallStatus::Busy.rank(), CallStatus::Completed.rank());
        assert!(CallStatus::Transcribed.has_ended());
        assert!(CallStatus::NoAnswer.is_final() && !CallStatus::Recorded.is_final());
    }
}
