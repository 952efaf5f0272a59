//! Places one simulated call at a running mokdan and prints the timeline: the quickest
//! way to see the sim work without the `mokdan sim` command.
//!
//! `cargo run -p sim --example call -- http://127.0.0.1:8080 +97231234567 [api-port] [normal|no-socket|stop-media]`
//! (`TWILIO_ACCOUNT_SID` / `TWILIO_AUTH_TOKEN` as the server has them; the fake REST
//! API listens on `api-port`, default 17000, so the server's `TWILIO_API_BASE` can
//! point at it). Writes `heard.wav` and `conversation.wav`.

use std::time::Duration;

use sim::{CallSpec, CallerScript, Sim, SimConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = args
        .first()
        .cloned()
        .unwrap_or("http://127.0.0.1:8080".into());
    let to = args.get(1).cloned().unwrap_or("+97231234567".into());
    let port = args.get(2).cloned().unwrap_or("17000".into());
    let cfg = SimConfig::new(
        std::env::var("TWILIO_ACCOUNT_SID").unwrap_or(format!("AC{}", "0".repeat(32))),
        std::env::var("TWILIO_AUTH_TOKEN").unwrap_or("sim-auth-token".into()),
    );
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let sim = Sim::serve_on(listener, cfg).await?;
    eprintln!("fake Twilio REST API at {}", sim.api_base());
    let mode = args.get(3).cloned().unwrap_or("normal".into());
    let mut caller = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, אני רוצה לקבוע תור למחר בבוקר")
        .wait_for_agent(Duration::from_secs(10))
        .say("תודה, להתראות")
        .wait_for_agent(Duration::from_secs(5))
        .hang_up()
        .max_duration(Duration::from_secs(90));
    match mode.as_str() {
        "no-socket" => caller = caller.never_connect_socket(),
        "stop-media" => caller = caller.stop_media_after(Duration::from_secs(1)),
        _ => {}
    }
    let report = sim
        .call(CallSpec::new(server, to, "+972541112222", caller))
        .await?;
    print!("{}", report.print_timeline());
    std::fs::write("heard.wav", report.heard_wav())?;
    std::fs::write("conversation.wav", report.conversation_wav())?;
    Ok(())
}
