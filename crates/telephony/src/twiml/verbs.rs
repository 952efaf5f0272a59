//! The TwiML verbs mokdan speaks, as plain data with builder helpers.
//!
//! Keeping the verbs as typed structs (rather than ad-hoc XML strings) means the
//! server, the fallback watchdog and the simulator all build and read exactly the
//! same documents, and a misspelt attribute is a compile error instead of a call
//! that silently misbehaves.

/// `<Say>`: speak text with Twilio's text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Say {
    pub text: String,
    pub voice: Option<String>,
    pub language: Option<String>,
}

impl Say {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
}

impl From<&str> for Say {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Say {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

/// `<Play>`: play an audio file at `url`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Play {
    pub url: String,
    /// `loop`: how many times to play; `0` means until the call ends.
    pub loop_: Option<u32>,
}

impl Play {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            loop_: None,
        }
    }
    pub fn loop_(mut self, times: u32) -> Self {
        self.loop_ = Some(times);
        self
    }
}

impl From<&str> for Play {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for Play {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

/// `<Pause>`: silence for `length` seconds (Twilio's default is 1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pause {
    pub length: Option<u32>,
}

/// `<Record>`: record the caller; Twilio then requests `action`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub action: Option<String>,
    pub method: Option<String>,
    pub max_length: Option<u32>,
    pub timeout: Option<u32>,
    pub play_beep: Option<bool>,
    pub finish_on_key: Option<String>,
    pub recording_status_callback: Option<String>,
    pub trim: Option<String>,
}

impl Record {
    /// A recording whose result is POSTed to `action`.
    pub fn new(action: impl Into<String>) -> Self {
        Self {
            action: Some(action.into()),
            ..Self::default()
        }
    }
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }
    pub fn max_length(mut self, seconds: u32) -> Self {
        self.max_length = Some(seconds);
        self
    }
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }
    pub fn play_beep(mut self, beep: bool) -> Self {
        self.play_beep = Some(beep);
        self
    }
    pub fn finish_on_key(mut self, keys: impl Into<String>) -> Self {
        self.finish_on_key = Some(keys.into());
        self
    }
    pub fn recording_status_callback(mut self, url: impl Into<String>) -> Self {
        self.recording_status_callback = Some(url.into());
        self
    }
    pub fn trim(mut self, trim: impl Into<String>) -> Self {
        self.trim = Some(trim.into());
        self
    }
}

/// `<Redirect>`: continue with the TwiML at `url`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redirect {
    pub url: String,
    pub method: Option<String>,
}

impl Redirect {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: None,
        }
    }
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }
}

impl From<&str> for Redirect {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for Redirect {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

/// `<Dial>`: connect the caller to `number`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dial {
    pub number: String,
    pub caller_id: Option<String>,
    pub action: Option<String>,
    pub timeout: Option<u32>,
}

impl Dial {
    pub fn new(number: impl Into<String>) -> Self {
        Self {
            number: number.into(),
            ..Self::default()
        }
    }
    pub fn caller_id(mut self, caller_id: impl Into<String>) -> Self {
        self.caller_id = Some(caller_id.into());
        self
    }
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }
}

/// `<Gather>`: collect digits or speech while the nested verbs play.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gather {
    pub input: Option<String>,
    pub action: Option<String>,
    pub timeout: Option<u32>,
    pub num_digits: Option<u32>,
    pub children: Vec<Verb>,
}

impl Gather {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn input(mut self, input: impl Into<String>) -> Self {
        self.input = Some(input.into());
        self
    }
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }
    pub fn num_digits(mut self, digits: u32) -> Self {
        self.num_digits = Some(digits);
        self
    }
    /// Nests a verb (`Say`, `Play` or `Pause`) inside the gather.
    pub fn child(mut self, verb: impl Into<Verb>) -> Self {
        self.children.push(verb.into());
        self
    }
}

/// `<Connect><Stream/></Connect>`: a bidirectional Media Stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Requested when the stream ends, to fetch the TwiML that follows.
    pub action: Option<String>,
    pub stream: Stream,
}

impl Connect {
    pub fn new(stream: Stream) -> Self {
        Self {
            action: None,
            stream,
        }
    }
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }
}

/// `<Stream>`: the WebSocket Twilio opens, with `<Parameter>` children that
/// arrive in the `start` message's `customParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    pub url: String,
    pub name: Option<String>,
    pub track: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<String>,
    pub parameters: Vec<(String, String)>,
}

impl Stream {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn track(mut self, track: impl Into<String>) -> Self {
        self.track = Some(track.into());
        self
    }
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }
    pub fn status_callback_method(mut self, method: impl Into<String>) -> Self {
        self.status_callback_method = Some(method.into());
        self
    }
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }
}

/// `<Recording>` inside `<Start>`: Twilio records the whole call from this moment, in
/// the background, while later verbs (a `<Connect><Stream>`) run. Unlike `<Record>` it does
/// not take the call over, so it never breaks a media stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recording {
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: Option<String>,
    /// Space-separated: `in-progress`, `completed`, `absent`.
    pub recording_status_callback_event: Option<String>,
    /// `mono` or `dual` (caller and agent on their own channels).
    pub channels: Option<String>,
    /// `inbound`, `outbound` or `both`.
    pub track: Option<String>,
    /// `trim-silence` or `do-not-trim`.
    pub trim: Option<String>,
}

impl Recording {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.recording_status_callback = Some(url.into());
        self
    }
    pub fn status_callback_event(mut self, events: impl Into<String>) -> Self {
        self.recording_status_callback_event = Some(events.into());
        self
    }
    pub fn channels(mut self, channels: impl Into<String>) -> Self {
        self.channels = Some(channels.into());
        self
    }
    pub fn track(mut self, track: impl Into<String>) -> Self {
        self.track = Some(track.into());
        self
    }
}

/// `<Start>`: background work that runs alongside the rest of the call. Only its
/// `<Recording>` is modelled; other children (`<Stream>`, `<Siprec>`, `<Transcription>`)
/// are kept by name so foreign TwiML still parses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Start {
    pub recording: Option<Recording>,
    pub other: Vec<String>,
}

impl Start {
    pub fn recording(recording: Recording) -> Self {
        Start {
            recording: Some(recording),
            other: Vec::new(),
        }
    }
}

/// One TwiML verb. `Unknown` keeps the element name of a verb mokdan does not
/// model, so parsing foreign TwiML never fails just because Twilio grew a verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say(Say),
    Play(Play),
    Pause(Pause),
    Record(Record),
    Redirect(Redirect),
    Hangup,
    Dial(Dial),
    Gather(Gather),
    Connect(Connect),
    Start(Start),
    Unknown(String),
}

macro_rules! verb_from {
    ($($ty:ident),*) => {
        $(impl From<$ty> for Verb {
            fn from(v: $ty) -> Self {
                Verb::$ty(v)
            }
        })*
    };
}
verb_from!(
    Say, Play, Pause, Record, Redirect, Dial, Gather, Connect, Start
);

/// A whole TwiML document: `<Response>` and its verbs, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub verbs: Vec<Verb>,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends any verb.
    pub fn verb(mut self, verb: impl Into<Verb>) -> Self {
        self.verbs.push(verb.into());
        self
    }
    /// `.say("text")` or `.say(Say::new("text").voice(..))`.
    pub fn say(self, say: impl Into<Say>) -> Self {
        self.verb(say.into())
    }
    /// `.play(url)` or `.play(Play::new(url).loop_(2))`.
    pub fn play(self, play: impl Into<Play>) -> Self {
        self.verb(play.into())
    }
    pub fn pause(self, seconds: u32) -> Self {
        self.verb(Pause {
            length: Some(seconds),
        })
    }
    pub fn record(self, record: Record) -> Self {
        self.verb(record)
    }
    /// `.redirect(url)` or `.redirect(Redirect::new(url).method("GET"))`.
    pub fn redirect(self, redirect: impl Into<Redirect>) -> Self {
        self.verb(redirect.into())
    }
    pub fn hangup(self) -> Self {
        self.verb(Verb::Hangup)
    }
    pub fn dial(self, dial: impl Into<Dial>) -> Self {
        self.verb(dial.into())
    }
    pub fn gather(self, gather: Gather) -> Self {
        self.verb(gather)
    }
    pub fn connect(self, connect: Connect) -> Self {
        self.verb(connect)
    }
    pub fn start(self, start: Start) -> Self {
        self.verb(start)
    }
    /// The `<Connect>` that hands the call to a media stream, wherever it is in the
    /// document (a `<Start><Recording>` may come first).
    pub fn stream_connect(&self) -> Option<&Connect> {
        self.verbs.iter().find_map(|v| match v {
            Verb::Connect(c) => Some(c),
            _ => None,
        })
    }
}

impl From<&str> for Dial {
    fn from(number: &str) -> Self {
        Self::new(number)
    }
}
