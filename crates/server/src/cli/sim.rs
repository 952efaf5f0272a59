//! `mokdan sim call` and `mokdan sim serve`: try the agent with no Twilio account.
//!
//! `sim call` plays Twilio against a running mokdan: it rings the business's number with a
//! signed webhook, follows the TwiML, streams the caller (Hebrew spoken by espeak-ng, or a
//! WAV) over the media socket, and prints a timeline with latencies; what the caller heard
//! is written to a WAV. `sim serve` runs only the fake REST API, for a server under manual
//! test (`TWILIO_API_BASE` points at it).

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use sim::{CallSpec, CallerScript, Sim, SimConfig};

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Place one simulated call and print its timeline.
    Call(Box<CallArgs>),
    /// Run the fake Twilio REST API until interrupted.
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 17000)]
        port: u16,
    },
}

#[derive(Args, Debug)]
pub struct CallArgs {
    /// The mokdan server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The business's number being called.
    #[arg(long, default_value = crate::demo::DEMO_NUMBER)]
    pub to: String,
    /// The caller's number.
    #[arg(long, default_value = "+972541112222")]
    pub from: String,
    /// What the caller says, in Hebrew (repeat for several turns).
    #[arg(long)]
    pub say: Vec<String>,
    /// A WAV file the caller plays instead of speaking.
    #[arg(long)]
    pub wav: Option<std::path::PathBuf>,
    /// Keys the caller presses, as DIGIT@SECONDS (e.g. '*@5s').
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Misbehave: never open the media socket.
    #[arg(long)]
    pub no_socket: bool,
    /// Misbehave: stop sending media after this many seconds.
    #[arg(long)]
    pub stop_media_after: Option<f64>,
    /// Write what the caller heard here.
    #[arg(long, default_value = "heard.wav")]
    pub out: std::path::PathBuf,
    /// Write the full report as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Port of the fake REST API the server may call (its TWILIO_API_BASE).
    #[arg(long, default_value_t = 0)]
    pub api_port: u16,
}

fn config() -> SimConfig {
    let sid =
        std::env::var("TWILIO_ACCOUNT_SID").unwrap_or_else(|_| format!("AC{}", "0".repeat(32)));
    let token = std::env::var("TWILIO_AUTH_TOKEN").unwrap_or_else(|_| "sim-auth-token".into());
    SimConfig::new(sid, token)
}

/// `*@5s` → ('*', 5 s).
pub fn parse_dtmf(spec: &str) -> anyhow::Result<(char, Duration)> {
    let (digit, at) = spec
        .split_once('@')
        .context("--dtmf: expected DIGIT@SECONDS, e.g. '*@5s'")?;
    let mut chars = digit.chars();
    let d = chars
        .next()
        .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#');
    let (Some(d), None) = (d, chars.next()) else {
        anyhow::bail!("--dtmf: `{digit}` is not one key (0-9, * or #)");
    };
    let secs: f64 = at
        .trim_end_matches('s')
        .parse()
        .ok()
        .filter(|s: &f64| *s >= 0.0 && *s < 3600.0)
        .context("--dtmf: the time must be seconds, e.g. 5s")?;
    Ok((d, Duration::from_secs_f64(secs)))
}

pub fn script(args: &CallArgs) -> anyhow::Result<CallerScript> {
    let mut s = CallerScript::new().max_duration(Duration::from_secs(180));
    if let Some(spec) = &args.dtmf {
        let (digit, at) = parse_dtmf(spec)?;
        s = s.silence(at).dtmf(digit).silence(Duration::from_secs(20));
    } else {
        s = s.wait_for_agent(Duration::from_secs(20));
        if let Some(path) = &args.wav {
            let bytes = std::fs::read(path)
                .with_context(|| format!("--wav: cannot read {}", path.display()))?;
            audio::wav::read(&bytes)
                .map_err(|e| anyhow::anyhow!("--wav: {}: {e}", path.display()))?;
            s = s.wav(bytes).wait_for_agent(Duration::from_secs(20));
        }
        let says: Vec<String> = if args.say.is_empty() && args.wav.is_none() {
            vec![
                "שלום, קוראים לי דנה כהן".into(),
                "אני רוצה לקבוע תור".into(),
                "מחר בבוקר".into(),
                "כן".into(),
            ]
        } else {
            args.say.clone()
        };
        for line in says {
            s = s.say(line).wait_for_agent(Duration::from_secs(20));
        }
        s = s.hang_up();
    }
    if args.no_socket {
        s = s.never_connect_socket();
    }
    if let Some(after) = args.stop_media_after {
        s = s.stop_media_after(Duration::from_secs_f64(after.max(0.0)));
    }
    Ok(s)
}

pub async fn run(cmd: SimCmd) -> anyhow::Result<()> {
    match cmd {
        SimCmd::Serve { port } => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("--port: cannot listen on 127.0.0.1:{port}"))?;
            let cfg = config();
            let sim = Sim::serve_on(listener, cfg.clone()).await?;
            println!("fake Twilio REST API at {}", sim.api_base());
            println!(
                "run the server with TWILIO_API_BASE={} TWILIO_ACCOUNT_SID={} and the same TWILIO_AUTH_TOKEN",
                sim.api_base(),
                cfg.account_sid
            );
            tokio::select! {
                _ = super::shutdown_signal() => {}
                _ = sim.wait() => {}
            }
            Ok(())
        }
        SimCmd::Call(args) => {
            let script = script(&args)?;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.api_port)).await?;
            let sim = Sim::serve_on(listener, config()).await?;
            let server = args.server.trim_end_matches('/').to_string();
            let report = sim
                .call(CallSpec::new(server, &args.to, &args.from, script))
                .await
                .context("the simulated call could not be placed (is `mokdan serve` running?)")?;
            print!("{}", report.print_timeline());
            std::fs::write(&args.out, report.conversation_wav())
                .with_context(|| format!("--out: cannot write {}", args.out.display()))?;
            println!("what the caller heard: {}", args.out.display());
            if let Some(path) = &args.json {
                std::fs::write(path, report.to_json())
                    .with_context(|| format!("--json: cannot write {}", path.display()))?;
            }
            if !report.is_clean() {
                anyhow::bail!(
                    "the call broke Twilio's protocol: {:?}",
                    report.protocol_errors
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_specs() {
        assert_eq!(parse_dtmf("*@5s").unwrap(), ('*', Duration::from_secs(5)));
        assert_eq!(
            parse_dtmf("1@0.5").unwrap(),
            ('1', Duration::from_millis(500))
        );
        for bad in ["*", "ab@1s", "*@x", "*@-1s", "@5s"] {
            assert!(parse_dtmf(bad).is_err(), "{bad}");
        }
    }
}
