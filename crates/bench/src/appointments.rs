//! `mokdan bench appointments` (#19, X3): a business with 5 staff members and 2,000
//! appointments in a month, closed on Shabbat and the holidays.
//!
//! 1. Availability for the whole month: the server's own work (the business's setup and
//!    booked time read from the database, then every free slot computed), in process and
//!    one at a time; the calculation alone on what was read once; then the same through `GET /api/availability`, with authentication
//!    (one request at a time by default).
//! 2. Bookings through `POST /api/appointments` at the given concurrency (32 by default),
//!    aimed on purpose at a small set of times so that most race for a time another is
//!    taking: every answer must be 201 or 409, and afterwards no staff member may hold two
//!    overlapping appointments: the no-double-booking guarantee, checked on the data.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use mokdan::store::appointments::{self as booked, NewAppointment, Placement};
use mokdan::store::scheduling::{self as setup, HoursRow, ServiceFields, Settings};

use super::{ms, percentile};

#[derive(Args, Debug, Clone)]
pub struct AppointmentBench {
    /// Staff members giving the service.
    #[arg(long, default_value_t = 5)]
    pub staff: usize,
    /// Appointments booked in the month before the run.
    #[arg(long, default_value_t = 2_000)]
    pub appointments: usize,
    /// Availability computations (in process, then over HTTP).
    #[arg(long, default_value_t = 300)]
    pub queries: usize,
    /// Booking requests.
    #[arg(long, default_value_t = 2_000)]
    pub bookings: usize,
    /// Booking requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Availability requests in flight at once (1: each one's own latency).
    #[arg(long, default_value_t = 1)]
    pub availability_concurrency: usize,
    /// Run on a fresh database on this PostgreSQL server (admin URL); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
}

const PASSWORD: &str = "bench-password-123";
const DAY_MS: i64 = 86_400_000;

pub async fn run(args: AppointmentBench) -> anyhow::Result<()> {
    let (db_url, dir) = super::scratch_database(args.postgres.as_deref()).await?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), db_url.clone());
    env.insert(
        "MOKDAN_DATA_DIR".into(),
        dir.path().join("data").display().to_string(),
    );
    let app = mokdan::App::build(mokdan::Settings::from_map(&env)?).await?;
    let db = app.state.db.clone();
    let business = super::add_business(&db, "+97231234567", None, false).await?;
    let hash = mokdan::auth::hash_password(PASSWORD)?;
    let role = mokdan::store::users::Role::Owner;
    mokdan::store::users::create(&db, "bench@example.com", &hash, role, Some(business)).await?;

    // A 30-minute service with 10 minutes after it; staff Sunday–Friday 07:00–22:00 and
    // Saturday night 19:00–23:00; the business closes for Shabbat and the holidays.
    let service = ServiceFields {
        name: "תספורת".into(),
        duration_minutes: 30,
        buffer_after_minutes: 10,
        price_agorot: None,
    };
    let service_id = setup::create_service(&db, business, &service).await?;
    let mut hours: Vec<HoursRow> = (0..6)
        .map(|d| HoursRow {
            staff_id: None,
            weekday: d,
            start_minute: 7 * 60,
            end_minute: 22 * 60,
        })
        .collect();
    hours.push(HoursRow {
        staff_id: None,
        weekday: 6,
        start_minute: 19 * 60,
        end_minute: 23 * 60,
    });
    for k in 0..args.staff {
        let name = format!("עובד {k}");
        setup::save_staff(&db, business, None, &name, &[service_id], &hours)
            .await
            .map_err(|e| anyhow::anyhow!("staff: {e:?}"))?;
    }
    let settings = Settings {
        location: "tel_aviv".into(),
        closed_on_holy_days: 1,
        slot_step_minutes: 15,
        ..Settings::default()
    };
    setup::save_settings(&db, business, &settings, &[]).await?;
    let svc = setup::get_service(&db, business, service_id)
        .await?
        .expect("the service");

    // The month starts at the next day's midnight in Israel; bookings go to the month after.
    let tz = calendar::israel();
    let today = jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date();
    let midnight = |d: jiff::civil::Date| -> anyhow::Result<jiff::Timestamp> {
        Ok(d.to_zoned_datetime(tz.clone())?.timestamp())
    };
    let month_start = midnight(today.tomorrow()?)?;
    let month_end = month_start + jiff::SignedDuration::from_millis(31 * DAY_MS);
    let next_end = month_end + jiff::SignedDuration::from_millis(31 * DAY_MS);

    let seeded = Instant::now();
    let slots = free_slots(&db, business, &svc, month_start, month_end).await?;
    let mut made = 0;
    for (i, s) in slots.iter().enumerate() {
        if made >= args.appointments {
            break;
        }
        // Skip some free times so the month keeps gaps of every size.
        if (i * 7919) % 10 >= 7 {
            continue;
        }
        let at = Placement {
            staff_id: s.staff_id,
            starts_at: s.start.as_millisecond(),
            ends_at: s.end.as_millisecond(),
            busy_until: s.end.as_millisecond() + 10 * 60_000,
        };
        let new = NewAppointment {
            service_id,
            at,
            customer_id: None,
            customer_name: Some(format!("לקוח {i}")),
            customer_phone: None,
            source: "bench".into(),
            notes: String::new(),
            call_id: None,
        };
        match booked::book(&db, business, &new).await {
            Ok(_) => made += 1,
            Err(booked::BookError::Taken) => {}
            Err(booked::BookError::Db(e)) => return Err(e.into()),
        }
    }
    println!(
        "seeded {made} appointments for {} staff in a month in {:.1} s ({})",
        args.staff,
        seeded.elapsed().as_secs_f64(),
        db.backend.name()
    );

    // 1a. The server's own work, one at a time.
    let mut lat = Vec::with_capacity(args.queries);
    let mut count = 0;
    for _ in 0..args.queries {
        let t = Instant::now();
        count = free_slots(&db, business, &svc, month_start, month_end)
            .await?
            .len();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "availability for a month, in process ({count} free slots, setup and bookings read each time)"
    );
    println!(
        "  latency     p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 90.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );

    // 1b. The calculation alone, on the setup and bookings read once.
    let cals = calendars(&db, business, &svc, month_start, month_end).await?;
    let mut lat = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        let t = Instant::now();
        let n =
            calendar::availability::free_slots(&cals.0, &cals.1, &cals.2, month_start, month_end);
        lat.push(t.elapsed());
        count = n.len();
    }
    lat.sort();
    println!("availability for a month, the calculation alone ({count} free slots)");
    println!(
        "  latency     p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 90.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "email": "bench@example.com", "password": PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token"))?
        .to_string();

    // 1b. Over HTTP.
    let url = format!(
        "{base}/api/availability?service={service_id}&from={}&to={}",
        month_start, month_end
    );
    let (lat, codes, took) = load(&client, args.availability_concurrency, args.queries, {
        let (url, token) = (url.clone(), token.clone());
        move |c: &reqwest::Client, _| c.get(&url).bearer_auth(&token)
    })
    .await;
    print_run(
        "GET /api/availability for a month",
        &lat,
        &codes,
        took,
        args.availability_concurrency,
    );

    // 2. Bookings racing for the next month's times.
    let targets = Arc::new(free_slots(&db, business, &svc, month_end, next_end).await?);
    anyhow::ensure!(!targets.is_empty(), "no free time in the second month");
    let pool = (targets.len() / 4).max(1);
    let (lat, codes, took) = load(&client, args.concurrency, args.bookings, {
        let (base, token, targets) = (base.clone(), token.clone(), targets.clone());
        move |c: &reqwest::Client, i| {
            let s = &targets[(i * 7919) % pool];
            c.post(format!("{base}/api/appointments"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "service_id": service_id, "start": s.start.to_string(),
                                          "staff_id": s.staff_id, "customer_name": format!("מתקשר {i}") }))
        }
    })
    .await;
    print_run(
        "POST /api/appointments (racing for the same times)",
        &lat,
        &codes,
        took,
        args.concurrency,
    );
    let won = codes.get(&201).copied().unwrap_or(0);
    println!(
        "  booked      {won} ({:.0} bookings/s); refused as taken {}",
        won as f64 / took.as_secs_f64().max(1e-9),
        codes.get(&409).copied().unwrap_or(0)
    );
    let rows = booked::list(
        &db,
        business,
        month_end.as_millisecond(),
        next_end.as_millisecond(),
        None,
    )
    .await?;
    let mut overlaps = 0;
    let mut by_staff: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for a in rows.iter().filter(|a| a.status == "booked") {
        by_staff
            .entry(a.staff_id)
            .or_default()
            .push((a.starts_at, a.busy_until));
    }
    for spans in by_staff.values_mut() {
        spans.sort();
        overlaps += spans.windows(2).filter(|w| w[1].0 < w[0].1).count();
    }
    println!(
        "  guarantee   {} appointments in the database, {overlaps} overlapping",
        rows.len()
    );
    let others = codes
        .iter()
        .filter(|(c, _)| **c != 201 && **c != 409)
        .map(|(_, n)| n)
        .sum::<usize>();

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    if let Some(admin) = &args.postgres {
        super::webhooks::drop_database(admin, &db_url).await;
    }
    anyhow::ensure!(
        rows.len() == won,
        "{} appointments stored for {won} bookings answered 201",
        rows.len()
    );
    anyhow::ensure!(overlaps == 0, "{overlaps} overlapping appointments");
    anyhow::ensure!(
        others == 0,
        "{others} booking answers were neither 201 nor 409"
    );
    Ok(())
}

async fn free_slots(
    db: &mokdan::store::Db,
    business: i64,
    svc: &setup::Service,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> anyhow::Result<Vec<calendar::availability::Slot>> {
    use mokdan::appointments::avail;
    let s = avail::load(db, None, business, from, to).await?;
    let givers = s.givers(svc.id, None);
    Ok(avail::free(db, business, &s, svc, &givers, from, to).await?)
}

/// The pure calculation's inputs for `[from, to)`, read once.
async fn calendars(
    db: &mokdan::store::Db,
    business: i64,
    svc: &setup::Service,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> anyhow::Result<(
    calendar::availability::Business,
    calendar::availability::Service,
    Vec<calendar::availability::StaffCalendar>,
)> {
    use mokdan::appointments::avail;
    let s = avail::load(db, None, business, from, to).await?;
    let busy = booked::busy(db, business, from.as_millisecond(), to.as_millisecond()).await?;
    let cals = s
        .givers(svc.id, None)
        .iter()
        .map(|m| calendar::availability::StaffCalendar {
            staff_id: m.id,
            hours: s.staff_hours(m.id),
            busy: busy
                .iter()
                .filter(|b| b.0 == m.id)
                .filter_map(|b| {
                    Some(calendar::availability::Interval::new(
                        jiff::Timestamp::from_millisecond(b.1).ok()?,
                        jiff::Timestamp::from_millisecond(b.2).ok()?,
                    ))
                })
                .collect(),
        })
        .collect();
    Ok((s.business, avail::slot_service(svc), cals))
}

/// Sends `n` requests with `concurrency` in flight; latencies, answers by status, time.
async fn load<F>(
    client: &reqwest::Client,
    concurrency: usize,
    n: usize,
    make: F,
) -> (Vec<Duration>, HashMap<u16, usize>, Duration)
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                let code = match make(&client, i).send().await {
                    Ok(r) => {
                        let c = r.status().as_u16();
                        let _ = r.bytes().await;
                        c
                    }
                    Err(_) => 0,
                };
                out.push((t.elapsed(), code));
            }
            out
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut codes: HashMap<u16, usize> = HashMap::new();
    for t in tasks {
        for (d, c) in t.await.unwrap_or_default() {
            lat.push(d);
            *codes.entry(c).or_default() += 1;
        }
    }
    let took = started.elapsed();
    lat.sort();
    (lat, codes, took)
}

fn print_run(
    name: &str,
    lat: &[Duration],
    codes: &HashMap<u16, usize>,
    took: Duration,
    concurrency: usize,
) {
    let mut by: Vec<_> = codes.iter().collect();
    by.sort();
    println!("{name} (concurrency {concurrency})");
    println!(
        "  requests    {} in {:.2} s ({:.0} req/s); answers {:?}",
        lat.len(),
        took.as_secs_f64(),
        lat.len() as f64 / took.as_secs_f64().max(1e-9),
        by
    );
    println!(
        "  latency     p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(lat, 50.0)),
        ms(percentile(lat, 90.0)),
        ms(percentile(lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );
}
