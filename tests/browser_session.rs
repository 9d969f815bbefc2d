#![cfg(target_arch = "wasm32")]
//! The reconnecting [`Session`] in headless Chromium under real network faults: the browser talks
//! to a websockify relay whose TCP side goes through a fault-injecting proxy
//! (tests/lib/fault-proxy.mjs, started by scripts/faults) to the broker; the tests break that
//! path with the proxy's HTTP control API (`fetch` from the page).
//!
//!   scripts/broker start; scripts/faults start
//!   CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
//!     WARREN_FAULT_WS_URL=ws://127.0.0.1:15677 WARREN_FAULT_CONTROL_URL=http://127.0.0.1:5678 \
//!     cargo test --target wasm32-unknown-unknown --test browser_session
//!
//! Both URLs are read at compile time (scripts/test exports them). Every wait is bounded; the
//! measured figures are printed with `console_log!`.

use futures::future::{join, select, Either};
use futures::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use warren::client::{ConsumeOptions, ExchangeDeclareOptions, PublishOptions, QueueDeclareOptions};
use warren::session::{Backoff, SubscribeOptions};
use warren::{BasicProperties, FieldTable, Session, SessionEvent, SessionOptions};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// browser → relay → fault proxy → broker.
const FAULT_WS_URL: &str = match option_env!("WARREN_FAULT_WS_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:15677",
};
/// The fault proxy's control API.
const CONTROL_URL: &str = match option_env!("WARREN_FAULT_CONTROL_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:5678",
};

/// Bound on a single step (a connect, a declaration, a control call).
const STEP_MS: u32 = 15_000;

fn now() -> u64 {
    warren::rt::now_ms()
}

/// Awaits `fut`, panicking (failing the test) if it takes longer than `ms`.
async fn within<F: Future>(ms: u32, what: &str, fut: F) -> F::Output {
    match select(Box::pin(fut), TimeoutFuture::new(ms)).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("timed out after {ms} ms: {what}"),
    }
}

async fn step<F: Future>(what: &str, fut: F) -> F::Output {
    within(STEP_MS, what, fut).await
}

fn js_err(what: &str, e: JsValue) -> String {
    format!("{what}: {e:?}")
}

/// POSTs `path` (e.g. `/cut`, `/blackhole?on=1`) to the fault proxy's control API through the
/// page's `fetch` (reached with Reflect, so no extra web-sys features) and returns its JSON.
async fn control(path: &str) -> JsValue {
    let url = format!("{CONTROL_URL}{path}");
    let call = async {
        let global = js_sys::global();
        let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into())
            .map_err(|e| js_err("globalThis.fetch", e))?
            .dyn_into()
            .map_err(|_| "globalThis.fetch is not a function".to_string())?;
        let init = js_sys::Object::new();
        js_sys::Reflect::set(&init, &"method".into(), &"POST".into())
            .map_err(|e| js_err("fetch init", e))?;
        let promise: js_sys::Promise = fetch
            .call2(&global, &JsValue::from_str(&url), &init)
            .map_err(|e| js_err("fetch", e))?
            .dyn_into()
            .map_err(|_| "fetch did not return a Promise".to_string())?;
        let resp = JsFuture::from(promise)
            .await
            .map_err(|e| js_err("fetch", e))?;
        let status = js_sys::Reflect::get(&resp, &"status".into())
            .ok()
            .and_then(|s| s.as_f64())
            .unwrap_or(0.0);
        let text: js_sys::Function = js_sys::Reflect::get(&resp, &"text".into())
            .map_err(|e| js_err("response.text", e))?
            .dyn_into()
            .map_err(|_| "response.text is not a function".to_string())?;
        let body: js_sys::Promise = text
            .call0(&resp)
            .map_err(|e| js_err("response.text()", e))?
            .dyn_into()
            .map_err(|_| "response.text() did not return a Promise".to_string())?;
        let body = JsFuture::from(body)
            .await
            .map_err(|e| js_err("response body", e))?
            .as_string()
            .unwrap_or_default();
        if status != 200.0 {
            return Err(format!("HTTP {status}: {body}"));
        }
        js_sys::JSON::parse(&body).map_err(|e| js_err("JSON.parse", e))
    };
    match within(5_000, &format!("control {url}"), call).await {
        Ok(v) => v,
        Err(e) => panic!("fault proxy control {url} failed: {e} (is scripts/faults running?)"),
    }
}

fn field(v: &JsValue, name: &str) -> f64 {
    js_sys::Reflect::get(v, &name.into())
        .ok()
        .and_then(|f| f.as_f64())
        .unwrap_or_else(|| panic!("control reply has no number {name:?}"))
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}.{}.{}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// Session events with the time each arrived.
type Timeline = Rc<RefCell<Vec<(u64, SessionEvent)>>>;

/// Records `session`'s events into `timeline` for as long as it is polled.
async fn record_events(session: &Session, timeline: Timeline) {
    let mut events = session.events();
    while let Some(ev) = events.next().await {
        timeline.borrow_mut().push((now(), ev));
    }
}

/// Waits (bounded) for the first event matching `want` on `events` (a listener made before the
/// fault, so nothing is missed); returns when it arrived.
async fn wait_event(
    events: &mut futures::channel::mpsc::Receiver<SessionEvent>,
    ms: u32,
    what: &str,
    want: impl Fn(&SessionEvent) -> bool,
) -> u64 {
    within(ms, what, async {
        loop {
            match events.next().await {
                Some(ev) if want(&ev) => return now(),
                Some(_) => {}
                None => panic!("session events ended while waiting for {what}"),
            }
        }
    })
    .await
}

fn opts() -> SessionOptions {
    SessionOptions {
        backoff: Backoff {
            initial_ms: 100,
            ..Backoff::default()
        },
        // an attempt into a dead path gives up quickly (the default is the URL's 30 s)
        connect_timeout_ms: Some(5_000),
        ..SessionOptions::default()
    }
}

const MESSAGES: u32 = 1_000;
/// The publish numbers at which the connection is cut (chosen in advance).
const CUTS: [u32; 3] = [200, 500, 800];
/// Confirmed publishes in flight at once.
const WINDOW: usize = 32;

#[derive(Default)]
struct Consumed {
    /// id → times delivered
    seen: HashMap<u32, u32>,
    /// delivery times, in order
    times: Vec<u64>,
}

/// 1,000 confirmed publishes across three connection cuts: every confirmed message arrives at
/// least once; duplicates are counted, and the recovery times printed.
#[wasm_bindgen_test]
async fn session_survives_three_cuts_without_losing_confirmed_messages() {
    control("/reset").await;
    let accepted_before = field(&control("/stats").await, "accepted");
    let session = step("session connect", Session::connect([FAULT_WS_URL], opts()))
        .await
        .expect("session connects through the fault proxy");
    let timeline: Timeline = Rc::default();

    let exchange = unique("warren.bsession");
    step(
        "exchange declare",
        session.exchange_declare(
            &exchange,
            "topic",
            ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .expect("declare topic exchange");
    let queue = step(
        "queue declare",
        session.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .expect("declare server-named queue");
    let first_name = queue.name();
    step(
        "queue bind",
        session.queue_bind(&queue, &exchange, "bs.#", FieldTable::new()),
    )
    .await
    .expect("bind queue");
    let mut sub = step(
        "subscribe",
        session.subscribe(
            &queue,
            SubscribeOptions {
                consume: ConsumeOptions::default(),
                prefetch: 100,
            },
            FieldTable::new(),
        ),
    )
    .await
    .expect("subscribe");

    let consumed = Rc::new(RefCell::new(Consumed::default()));
    let cuts: Rc<RefCell<Vec<u64>>> = Rc::default();
    let confirmed: Rc<RefCell<Vec<u32>>> = Rc::default();
    let t0 = now();

    // Publisher: a window of confirmed publishes; at each chosen number a cut is fired off while
    // publishes are in flight.
    let publisher = {
        let (session, exchange, cuts, confirmed) = (
            session.clone(),
            exchange.clone(),
            cuts.clone(),
            confirmed.clone(),
        );
        async move {
            let results = futures::stream::iter(0..MESSAGES)
                .map(|i| {
                    let (session, exchange, cuts, confirmed) = (
                        session.clone(),
                        exchange.clone(),
                        cuts.clone(),
                        confirmed.clone(),
                    );
                    // the cut runs alongside this publish (and the others in flight)
                    let cut = async move {
                        if CUTS.contains(&i) {
                            let t = now();
                            let r = control("/cut").await;
                            console_log!(
                                "cut at publish #{i}: {} relayed connection(s) closed",
                                field(&r, "cut")
                            );
                            cuts.borrow_mut().push(t);
                        }
                    };
                    let publish = async move {
                        let props = BasicProperties {
                            message_id: Some(i.to_string().into()),
                            ..Default::default()
                        };
                        let r = session
                            .publish(
                                &exchange,
                                &format!("bs.msg.{}", i % 7),
                                i.to_string().as_bytes(),
                                &props,
                                PublishOptions::default(),
                            )
                            .await;
                        if r.is_ok() {
                            confirmed.borrow_mut().push(i);
                        }
                        (i, r)
                    };
                    join(cut, publish).map(|(_, r)| r)
                })
                .buffer_unordered(WINDOW)
                .collect::<Vec<_>>()
                .await;
            let failed: Vec<_> = results.into_iter().filter(|(_, r)| r.is_err()).collect();
            assert!(
                failed.is_empty(),
                "{} publish(es) failed, e.g. {:?}",
                failed.len(),
                &failed[..failed.len().min(3)]
            );
            console_log!(
                "published and confirmed {MESSAGES} messages in {} ms",
                now() - t0
            );
        }
    };

    // Consumer: acks everything, until every message has arrived (or 10 s of silence).
    let consumer = {
        let consumed = consumed.clone();
        async move {
            loop {
                if consumed.borrow().seen.len() as u32 == MESSAGES {
                    return;
                }
                match sub.wait(10_000).await {
                    Ok(Some(m)) => {
                        let id: u32 = std::str::from_utf8(&m.body)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or_else(|| panic!("unexpected body {:?}", m.body));
                        assert_eq!(m.properties.message_id.as_deref(), Some(&*id.to_string()));
                        m.ack().expect("ack");
                        let mut c = consumed.borrow_mut();
                        *c.seen.entry(id).or_default() += 1;
                        c.times.push(now());
                    }
                    Ok(None) => panic!("subscription ended"),
                    Err(e) => {
                        console_log!("consumer: no delivery for 10 s ({e}); giving up");
                        return;
                    }
                }
            }
        }
    };

    let events = record_events(&session, timeline.clone());
    within(45_000, "publish + consume 1,000 messages", async {
        match select(Box::pin(join(publisher, consumer)), Box::pin(events)).await {
            Either::Left(_) => {}
            Either::Right(_) => panic!("session events ended early"),
        }
    })
    .await;

    // Figures
    let c = std::mem::take(&mut *consumed.borrow_mut());
    let confirmed = confirmed.borrow().clone();
    let lost: Vec<u32> = confirmed
        .iter()
        .copied()
        .filter(|i| !c.seen.contains_key(i))
        .collect();
    let deliveries: u32 = c.seen.values().sum();
    let duplicates = deliveries - c.seen.len() as u32;
    let cuts = cuts.borrow().clone();
    let timeline = timeline.borrow().clone();
    let disconnects = timeline
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::Disconnected { .. }))
        .count();
    let recoveries: Vec<u64> = timeline
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::Recovered))
        .map(|(t, _)| *t)
        .collect();
    console_log!(
        "cuts: {}, disconnects seen: {disconnects}, recoveries: {}; confirmed {}, consumed {} distinct \
         ({deliveries} deliveries), lost {}, duplicates {duplicates}; queue {first_name} -> {}",
        cuts.len(),
        recoveries.len(),
        confirmed.len(),
        c.seen.len(),
        lost.len(),
        queue.name()
    );
    for (n, &cut) in cuts.iter().enumerate() {
        let rec = recoveries.iter().copied().find(|&t| t >= cut);
        let disc = timeline
            .iter()
            .find(|(t, e)| *t >= cut && matches!(e, SessionEvent::Disconnected { .. }))
            .map(|(t, _)| *t);
        // the first delivery that came over the new connection
        let first = rec.and_then(|r| c.times.iter().copied().find(|&t| t >= r));
        let ms = |t: Option<u64>| t.map_or("-".to_string(), |t| format!("{} ms", t - cut));
        console_log!(
            "cut {}: disconnected after {}, recovered after {}, first delivery after {}",
            n + 1,
            ms(disc),
            ms(rec),
            ms(first)
        );
    }
    for (t, e) in &timeline {
        if !matches!(e, SessionEvent::Recovered) {
            console_log!("  +{} ms {e:?}", t - t0);
        }
    }
    let accepted = field(&control("/stats").await, "accepted") - accepted_before;
    console_log!("fault proxy accepted {accepted} connection(s) during the test");

    step("session stop", session.stop()).await;

    assert_eq!(cuts.len(), CUTS.len(), "every cut was made");
    assert_eq!(confirmed.len() as u32, MESSAGES, "every publish confirmed");
    assert!(
        recoveries.len() >= CUTS.len(),
        "the session recovered after every cut: {recoveries:?}"
    );
    assert!(
        accepted >= (CUTS.len() + 1) as f64,
        "the session reconnected through the proxy"
    );
    assert!(
        lost.is_empty(),
        "{} confirmed message(s) never consumed, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
}

/// Bound on noticing a silent peer at heartbeat=2. The engine checks every half interval and
/// declares the peer dead two intervals after the first check that saw no new data, i.e. 4–5 s
/// after the last byte: 5 s is its worst case, not a margin.
const DEAD_PEER_MS: u64 = 5_000;
/// How late a browser timer (and the event hop to the test) may run on a busy machine.
const TIMER_SLACK_MS: u64 = 250;

/// A silent peer (the proxy stops forwarding; sockets stay open) is noticed by the heartbeat
/// (2 s: dead after 2 intervals without data), attempts into the black hole time out, and the
/// session recovers once the path is back.
#[wasm_bindgen_test]
async fn session_notices_a_black_hole_by_heartbeat_and_recovers() {
    control("/reset").await;
    let url = format!("{FAULT_WS_URL}/?heartbeat=2");
    let options = SessionOptions {
        // attempts into the black hole give up after 2 s
        connect_timeout_ms: Some(2_000),
        ..opts()
    };
    let session = step("session connect", Session::connect([url.as_str()], options))
        .await
        .expect("session connects through the fault proxy");
    let conn = session.connection().expect("live connection");
    assert_eq!(conn.heartbeat(), 2, "negotiated heartbeat");
    let queue = step(
        "queue declare",
        session.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .expect("declare server-named queue");
    let mut sub = step(
        "subscribe",
        session.subscribe(&queue, SubscribeOptions::default(), FieldTable::new()),
    )
    .await
    .expect("subscribe");

    // the listener exists before the fault, so no event is missed
    let mut events = session.events();
    let t_hole = now();
    control("/blackhole?on=1").await;
    let t_disc = wait_event(&mut events, 10_000, "Disconnected", |e| {
        matches!(e, SessionEvent::Disconnected { .. })
    })
    .await;
    let detect = t_disc - t_hole;
    console_log!("black hole: Disconnected reported after {detect} ms (heartbeat 2 s)");
    assert!(
        !session.is_connected(),
        "no live connection while the path is black-holed"
    );

    // a reconnect attempt into the black hole fails too (its connect timeout), then the next
    // one is scheduled: only then is the path restored
    let t_retry = wait_event(&mut events, 10_000, "a failed attempt", |e| {
        matches!(e, SessionEvent::Reconnecting { attempt: 2, .. })
    })
    .await;
    console_log!(
        "black hole: an attempt through it failed {} ms after Disconnected (connect timeout 2 s)",
        t_retry - t_disc
    );
    let t_open = now();
    control("/blackhole?on=0").await;
    let t_rec = wait_event(&mut events, 20_000, "Recovered", |e| {
        matches!(e, SessionEvent::Recovered)
    })
    .await;
    console_log!("black hole lifted: Recovered after {} ms", t_rec - t_open);

    // the recovered session works end to end: a confirmed publish reaches the subscription
    let body = unique("after-blackhole");
    step(
        "publish after recovery",
        session.publish(
            "",
            &queue.name(),
            body.as_bytes(),
            &BasicProperties::default(),
            PublishOptions::default(),
        ),
    )
    .await
    .expect("publish after recovery");
    let m = step("delivery after recovery", sub.wait(STEP_MS as u64))
        .await
        .expect("delivery after recovery")
        .expect("subscription alive");
    assert_eq!(&m.body[..], body.as_bytes());
    m.ack().expect("ack");
    console_log!(
        "black hole: publish + delivery after recovery in {} ms",
        now() - t_rec
    );

    step("session stop", session.stop()).await;
    assert!(
        detect <= DEAD_PEER_MS + TIMER_SLACK_MS,
        "dead peer noticed after {detect} ms, want <= {DEAD_PEER_MS} ms (+{TIMER_SLACK_MS} ms timer slack)"
    );
}
