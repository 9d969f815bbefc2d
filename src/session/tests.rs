//! The session against the in-memory broker on virtual time (tokio paused clock): backoff,
//! fatal vs retryable refusals, renamed server-named queues, replay order, a drop at every step
//! of a replay, stale settles, outbox bounds.
#![cfg(all(test, feature = "tokio"))]

use super::*;
use crate::testing::FakeServer;
use futures::StreamExt;

const URL: &str = "amqp://guest:guest@fake:5672/%2f";

fn options() -> SessionOptions {
    SessionOptions {
        backoff: Backoff {
            initial_ms: 100,
            ..Backoff::default()
        },
        connect_timeout_ms: Some(2_000),
        ..SessionOptions::default()
    }
}

async fn connect(server: &FakeServer, options: SessionOptions) -> Result<Session, Error> {
    let s = server.clone();
    let dialer: Dialer = Arc::new(move |_| {
        let s = s.clone();
        Box::pin(async move { s.connect().await })
    });
    let urls = vec![ConnectionUrl::parse(URL)?];
    Session::connect_dialed(urls, options, Some(dialer)).await
}

/// The next event, within `ms` of virtual time.
async fn next_event(events: &mut mpsc::Receiver<SessionEvent>, ms: u64) -> SessionEvent {
    rt::timeout(ms, events.next())
        .await
        .expect("an event in time")
        .expect("the event stream is open")
}

async fn until_recovered(events: &mut mpsc::Receiver<SessionEvent>) -> Vec<SessionEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = next_event(events, 60_000).await;
        let done = ev == SessionEvent::Recovered;
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

fn exclusive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_grow_while_refused_and_the_session_recovers() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut events = session.events();
    server.refuse_next(4);
    server.cut();
    let seen = until_recovered(&mut events).await;
    let delays: Vec<u64> = seen
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Reconnecting { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 5, "{seen:?}");
    for (i, d) in delays.iter().enumerate() {
        let ceiling = 100u64 << i;
        assert!(
            *d >= ceiling / 2 && *d <= ceiling,
            "delay {i}: {d} of {ceiling}"
        );
    }
    assert!(
        matches!(seen[0], SessionEvent::Disconnected { .. }),
        "{seen:?}"
    );
    assert_eq!(
        server.connections(),
        2,
        "4 refused attempts, then one accepted"
    );
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn fatal_refusals_end_the_session_at_once_retryable_ones_do_not() {
    let server = FakeServer::new();
    server.refuse_login(403, "ACCESS_REFUSED - Login was refused");
    let e = connect(&server, options()).await.unwrap_err();
    assert_eq!(
        e.reply_code(),
        Some(crate::protocol::ReplyCode::ACCESS_REFUSED),
        "{e}"
    );
    assert_eq!(server.connections(), 1, "no retry of a fatal refusal");

    // Asked to retry, it does, up to max_attempts.
    let retry = SessionOptions {
        retry_fatal: true,
        backoff: Backoff {
            initial_ms: 100,
            max_attempts: Some(3),
            ..Backoff::default()
        },
        ..options()
    };
    let e = connect(&server, retry).await.unwrap_err();
    assert_eq!(
        e.reply_code(),
        Some(crate::protocol::ReplyCode::ACCESS_REFUSED)
    );
    assert_eq!(server.connections(), 4);

    // A refused socket is retryable: the session waits it out.
    server.accept_login();
    server.refuse_next(2);
    let session = connect(&server, options()).await.unwrap();
    assert!(session.is_connected());
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn recovery_replays_in_order_renames_the_server_named_queue_and_the_subscription_follows() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut events = session.events();
    let auto = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    session
        .exchange_declare("logs", "topic", auto, FieldTable::new())
        .await
        .unwrap();
    let q = session
        .queue_declare("", exclusive(), FieldTable::new())
        .await
        .unwrap();
    session
        .queue_bind(&q, "logs", "a.#", FieldTable::new())
        .await
        .unwrap();
    let mut sub = session
        .subscribe(&q, SubscribeOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let props = BasicProperties::default();
    session
        .publish("logs", "a.b", b"before", &props, PublishOptions::default())
        .await
        .unwrap();
    let first = sub.wait(5_000).await.unwrap().unwrap();
    assert_eq!(&first.body[..], b"before");
    let old_name = q.name();

    server.clear_log();
    server.cut();
    until_recovered(&mut events).await;
    let new_name = q.name();
    assert_ne!(old_name, new_name, "a server-named queue gets a new name");
    assert!(server.queue_names().contains(&new_name));
    // Replayed in declaration order, then consumed again, on the new name.
    let log = server.log();
    let pos = |what: &str| {
        log.iter()
            .position(|l| l.starts_with(what))
            .unwrap_or_else(|| panic!("{what} not in {log:?}"))
    };
    assert!(pos("exchange.declare logs") < pos("queue.declare"));
    assert!(pos("queue.declare") < pos(&format!("queue.bind {new_name} logs a.#")));
    assert!(pos(&format!("queue.bind {new_name}")) < pos(&format!("basic.consume {new_name}")));

    // A settle of the message from the old connection does nothing (and breaks nothing).
    first.ack().unwrap();
    session
        .publish("logs", "a.c", b"after", &props, PublishOptions::default())
        .await
        .unwrap();
    let m = sub.wait(5_000).await.unwrap().unwrap();
    assert_eq!(&m.body[..], b"after");
    m.ack().unwrap();
    assert!(session.is_connected());
    assert!(
        !server.log().iter().any(|l| l.contains("406")),
        "no precondition failure on the new connection"
    );
    session.stop().await;
    assert!(sub.next().await.is_none(), "stop ends the subscription");
}

#[tokio::test(start_paused = true)]
async fn a_drop_at_every_step_of_the_replay_still_recovers_everything() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut events = session.events();
    let auto = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    session
        .exchange_declare("x", "direct", auto, FieldTable::new())
        .await
        .unwrap();
    let q = session
        .queue_declare("", exclusive(), FieldTable::new())
        .await
        .unwrap();
    session
        .queue_bind(&q, "x", "k", FieldTable::new())
        .await
        .unwrap();
    let mut sub = session
        .subscribe(&q, SubscribeOptions::default(), FieldTable::new())
        .await
        .unwrap();
    // A recovery is: handshake (3 frames), 2 channel.open, confirm.select, exchange, queue,
    // bind, and the subscription's channel.open + consume — about 11 frames. Cut after each.
    for n in 1..=12 {
        server.fail_after_frames(n);
        server.cut();
        until_recovered(&mut events).await;
        let body = format!("after drop at frame {n}");
        session
            .publish(
                "x",
                "k",
                body.as_bytes(),
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap();
        let m = loop {
            let m = sub
                .wait(10_000)
                .await
                .unwrap()
                .expect("the subscription survives");
            if m.body == body.as_bytes() {
                break m;
            }
        };
        m.ack().unwrap();
        assert_eq!(
            server.consumer_count(&q.name()),
            1,
            "exactly one consumer after drop {n}"
        );
    }
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn confirmed_publishes_wait_out_a_disconnection_in_a_bounded_outbox() {
    let server = FakeServer::new();
    let opts = SessionOptions {
        outbox_max_messages: 5,
        ..options()
    };
    let session = connect(&server, opts).await.unwrap();
    let mut events = session.events();
    let q = session
        .queue_declare("held", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    server.refuse_next(3);
    server.cut();
    assert!(matches!(
        next_event(&mut events, 5_000).await,
        SessionEvent::Disconnected { .. }
    ));
    let mut waiting = Vec::new();
    for i in 0..5 {
        let s = session.clone();
        waiting.push(tokio::spawn(async move {
            let body = format!("m{i}");
            s.publish(
                "",
                "held",
                body.as_bytes(),
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
        }));
    }
    // Let the five take their places.
    while session.pending_publishes().0 < 5 {
        tokio::task::yield_now().await;
    }
    let sixth = session
        .publish(
            "",
            "held",
            b"m5",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await;
    assert_eq!(sixth, Err(Error::OutboxFull));
    for w in waiting {
        w.await.unwrap().unwrap();
    }
    assert_eq!(server.messages_in(&q.name()), 5);
    assert_eq!(session.pending_publishes(), (0, 0));
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_publish_honours_its_deadline_and_blocked_publishes_wait() {
    let server = FakeServer::new();
    let opts = SessionOptions {
        operation_timeout_ms: 3_000,
        ..options()
    };
    let session = connect(&server, opts).await.unwrap();
    session
        .queue_declare("b", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    server.block("low on memory");
    // Wait until the session has seen the block (a publish is held back meanwhile).
    let t0 = rt::now_ms();
    let r = session
        .publish(
            "",
            "b",
            b"x",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await;
    // Either the block arrived first and the publish timed out, or it went out just before.
    if r.is_err() {
        assert_eq!(r, Err(Error::Timeout));
        assert!(rt::now_ms() - t0 >= 3_000);
    }
    let s = session.clone();
    let held = tokio::spawn(async move {
        s.publish(
            "",
            "b",
            b"y",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "a blocked publish waits");
    server.unblock();
    held.await.unwrap().unwrap();
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_ends_everything_and_no_attempt_follows() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    server.refuse_next(1_000);
    server.cut();
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    session.stop().await;
    let attempts = server.connections();
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    assert_eq!(server.connections(), attempts);
    let r = session
        .publish(
            "",
            "q",
            b"x",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await;
    assert_eq!(r, Err(Error::NotOpen("session")));
}

#[tokio::test(start_paused = true)]
async fn a_stream_subscription_resumes_after_the_last_offset_it_yielded() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut events = session.events();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let args = FieldTable::new().with("x-queue-type", "stream");
    session.queue_declare("s", durable, args).await.unwrap();
    for i in 0..5 {
        let body = format!("m{i}");
        let props = BasicProperties::default();
        session
            .publish("", "s", body.as_bytes(), &props, PublishOptions::default())
            .await
            .unwrap();
    }
    let opts = SubscribeOptions {
        prefetch: 10,
        ..Default::default()
    };
    let from_first = FieldTable::new().with("x-stream-offset", "first");
    let mut sub = session.subscribe("s", opts, from_first).await.unwrap();
    for i in 0..3 {
        let m = sub.wait(5_000).await.unwrap().unwrap();
        assert_eq!(m.body_str(), format!("m{i}"));
        m.ack().unwrap();
    }
    // Let the forwarder hand over nothing more before the cut: read exactly three, then cut.
    server.cut();
    until_recovered(&mut events).await;
    // Messages 3 and 4 may have been queued in the subscription before the cut; after it the
    // consumer starts after the last offset handed over, so nothing before m3 comes again.
    let mut rest = Vec::new();
    while rest.len() < 2 {
        let m = sub.wait(5_000).await.unwrap().unwrap();
        rest.push(m.body_str().into_owned());
        m.ack().unwrap();
    }
    assert_eq!(rest, ["m3", "m4"]);
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.starts_with("basic.consume s")),
        "consumed again"
    );
    assert!(
        matches!(sub.wait(500).await, Err(Error::Timeout)),
        "no repeats"
    );
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_subscription_cancels_its_consumer_at_once() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    session
        .queue_declare("quiet", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let sub = session
        .subscribe("quiet", SubscribeOptions::default(), FieldTable::new())
        .await
        .unwrap();
    assert_eq!(server.consumer_count("quiet"), 1);
    drop(sub);
    // No delivery comes to wake the forwarder: the cancel must not wait for one.
    let t0 = rt::now_ms();
    while server.consumer_count("quiet") != 0 {
        assert!(rt::now_ms() - t0 < 1_000, "consumer still registered");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    session.stop().await;
}

// --- what the JS session API needs -----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retry_now_ends_a_backoff_wait_at_once() {
    let server = FakeServer::new();
    let opts = SessionOptions {
        backoff: Backoff {
            initial_ms: 60_000,
            max_ms: 60_000,
            ..Backoff::default()
        },
        ..options()
    };
    let session = connect(&server, opts).await.unwrap();
    let mut events = session.events();
    let mut notices = session.notices();
    assert!(!session.retry_now(), "nothing to cut short while connected");
    server.cut();
    let t0 = rt::now_ms();
    loop {
        if let SessionEvent::Reconnecting { delay_ms, .. } = next_event(&mut events, 5_000).await {
            assert!(delay_ms >= 30_000, "a long backoff: {delay_ms}");
            break;
        }
    }
    // the supervisor arms the early retry right after reporting the wait
    let mut cut_short = false;
    for _ in 0..100 {
        session.network_changed(true);
        if server.connections() == 2 {
            cut_short = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(cut_short, "online retried without waiting out the backoff");
    assert!(matches!(
        next_event(&mut events, 5_000).await,
        SessionEvent::Connected { .. }
    ));
    assert_eq!(
        next_event(&mut events, 5_000).await,
        SessionEvent::Recovered
    );
    assert!(
        rt::now_ms() - t0 < 5_000,
        "recovered {} ms after the cut",
        rt::now_ms() - t0
    );
    let n = rt::timeout(1_000, notices.next()).await.unwrap().unwrap();
    assert!(matches!(n, Notice::Network(true)), "{n:?}");
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn blocked_and_unblocked_are_noticed() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut notices = session.notices();
    server.block("low on memory");
    let n = rt::timeout(5_000, notices.next()).await.unwrap().unwrap();
    assert!(
        matches!(&n, Notice::Blocked(r) if r == "low on memory"),
        "{n:?}"
    );
    server.unblock();
    let n = rt::timeout(5_000, notices.next()).await.unwrap().unwrap();
    assert!(matches!(n, Notice::Unblocked), "{n:?}");
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn get_purge_and_consume_one_work_and_survive_a_reconnect() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut events = session.events();
    let q = session
        .queue_declare("work", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let publish = |body: &'static [u8]| {
        let s = session.clone();
        async move {
            s.publish(
                "",
                "work",
                body,
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap()
        }
    };
    publish(b"a").await;
    publish(b"b").await;
    publish(b"c").await;
    let got = session.get(&q, false).await.unwrap().expect("a message");
    assert_eq!(&got.body[..], b"a");
    got.ack().unwrap();
    let one = session.consume_one(&q, 5_000).await.unwrap();
    assert_eq!(&one.body[..], b"b");
    // the ack of b reaches the broker (a cut before it would rightly bring b back)
    for _ in 0..1_000 {
        if server.messages_in("work") == 1 {
            break;
        }
        rt::sleep_ms(1).await;
    }
    assert_eq!(server.messages_in("work"), 1, "a and b acked");
    server.cut();
    until_recovered(&mut events).await;
    assert_eq!(session.queue_purge(&q).await.unwrap(), 1, "c is left");
    assert!(session.get(&q, true).await.unwrap().is_none());
    assert_eq!(
        session.consume_one(&q, 500).await.unwrap_err(),
        Error::Timeout
    );
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_handler_subscription_acks_on_success_and_nacks_failures() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let q = session
        .queue_declare("handled", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen2 = seen.clone();
    let handler: Handler<HandlerResult> = Arc::new(move |m: SessionMessage| {
        let seen = seen2.clone();
        Box::pin(async move {
            lock(&seen).push(m.body.to_vec());
            match &m.body[..] {
                b"bad" => Err(HandlerError::Unusable("cannot decode".into())),
                _ => Ok(()),
            }
        })
    });
    let sub = session
        .subscribe_with(
            &q,
            SubscribeOptions::default(),
            FieldTable::new(),
            Settle::Auto {
                requeue_on_nack: true,
            },
            handler,
        )
        .await
        .unwrap();
    for body in [&b"ok"[..], b"bad", b"ok2"] {
        session
            .publish(
                "",
                "handled",
                body,
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }
    for _ in 0..1_000 {
        if lock(&seen).len() >= 3 && server.messages_in("handled") == 0 {
            break;
        }
        rt::sleep_ms(10).await;
    }
    assert_eq!(
        *lock(&seen),
        vec![b"ok".to_vec(), b"bad".to_vec(), b"ok2".to_vec()],
        "each once: the unusable one was not requeued"
    );
    assert_eq!(server.messages_in("handled"), 0, "acked or dropped");
    assert!(!sub.consumer_tag().is_empty());
    sub.cancel();
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn declaring_again_keeps_the_replay_order_and_shares_the_queue_handle() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let xo = ExchangeDeclareOptions::default();
    session
        .exchange_declare("x", "topic", xo, FieldTable::new())
        .await
        .unwrap();
    let q1 = session
        .queue_declare("q", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    session
        .queue_bind(&q1, "x", "k", FieldTable::new())
        .await
        .unwrap();
    // amqp-client code declares the same objects again (e.g. on every page view)
    session
        .exchange_declare("x", "topic", xo, FieldTable::new())
        .await
        .unwrap();
    let q2 = session
        .queue_declare("q", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let kinds: Vec<String> = session
        .topology()
        .declarations
        .iter()
        .map(|d| d.describe())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds[0].starts_with("exchange"), "{kinds:?}");
    assert!(kinds[1].starts_with("queue"), "{kinds:?}");
    assert!(kinds[2].starts_with("binding"), "{kinds:?}");
    // deleting through the second handle forgets the queue and its binding
    session
        .queue_delete(&q2, QueueDeleteOptions::default())
        .await
        .unwrap();
    let left: Vec<String> = session
        .topology()
        .declarations
        .iter()
        .map(|d| d.describe())
        .collect();
    assert_eq!(left, vec!["exchange \"x\"".to_owned()]);
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_first_connect_can_be_held_to_fewer_attempts_than_reconnects() {
    let server = FakeServer::new();
    server.refuse_next(1);
    let held = SessionOptions {
        first_connect_attempts: Some(1),
        ..options()
    };
    let e = connect(&server, held).await.unwrap_err();
    assert!(
        matches!(e, Error::ConnectionLost { .. }),
        "the refusal itself: {e:?}"
    );
    assert_eq!(server.connections(), 0, "one attempt, refused");
    server.refuse_next(1);
    let retrying = connect(&server, options()).await.unwrap();
    assert_eq!(server.connections(), 1, "refused once, then connected");
    retrying.stop().await;
}

#[tokio::test(start_paused = true)]
async fn handlers_run_concurrently_up_to_the_prefetch() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let q = session
        .queue_declare("conc", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let (release_tx, release_rx) = futures::channel::oneshot::channel::<()>();
    let release = Arc::new(Mutex::new(Some(release_rx)));
    let done: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let done2 = done.clone();
    let handler: Handler<HandlerResult> = Arc::new(move |m: SessionMessage| {
        let (done, release) = (done2.clone(), release.clone());
        Box::pin(async move {
            if &m.body[..] == b"slow" {
                let rx = lock(&release).take();
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
            }
            lock(&done).push(m.body.to_vec());
            Ok(())
        })
    });
    let options = SubscribeOptions {
        prefetch: 2,
        ..SubscribeOptions::default()
    };
    let settle = Settle::Auto {
        requeue_on_nack: true,
    };
    let sub = session
        .subscribe_with(&q, options, FieldTable::new(), settle, handler)
        .await
        .unwrap();
    for body in [&b"slow"[..], b"fast"] {
        session
            .publish(
                "",
                "conc",
                body,
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }
    for _ in 0..1_000 {
        if !lock(&done).is_empty() {
            break;
        }
        rt::sleep_ms(10).await;
    }
    assert_eq!(
        *lock(&done),
        vec![b"fast".to_vec()],
        "fast finished while slow waits"
    );
    release_tx.send(()).unwrap();
    for _ in 0..1_000 {
        if server.messages_in("conc") == 0 {
            break;
        }
        rt::sleep_ms(10).await;
    }
    assert_eq!(*lock(&done), vec![b"fast".to_vec(), b"slow".to_vec()]);
    assert_eq!(server.messages_in("conc"), 0, "both acked");
    sub.cancel();
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unconfirmed_publishes_go_over_a_channel_without_confirm_mode() {
    let server = FakeServer::new();
    let session = connect(&server, options()).await.unwrap();
    let mut events = session.events();
    session
        .queue_declare("plain", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let publish = |confirm| {
        let s = session.clone();
        async move {
            let props = BasicProperties::default();
            s.publish_with(
                "",
                "plain",
                b"m",
                &props,
                PublishOptions::default(),
                confirm,
            )
            .await
        }
    };
    for round in 1..=2 {
        for _ in 0..10 {
            publish(false).await.unwrap();
        }
        // one connection, handled in order: once this is confirmed the ten have arrived
        publish(true).await.unwrap();
        assert_eq!(server.messages_in("plain"), 11 * round);
        assert_eq!(
            server.confirmed_publishes(),
            round,
            "only the confirmed publishes went over the confirm channel"
        );
        assert_eq!(session.pending_publishes(), (0, 0));
        // the unconfirmed channel is opened again on the next connection
        server.cut();
        until_recovered(&mut events).await;
    }
    session.stop().await;
}

#[tokio::test(start_paused = true)]
async fn confirms_that_never_come_time_out_at_their_deadline() {
    let server = FakeServer::new();
    let opts = SessionOptions {
        operation_timeout_ms: 3_000,
        ..options()
    };
    let session = connect(&server, opts).await.unwrap();
    session
        .queue_declare("late", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .unwrap();
    server.blackhole();
    let t0 = rt::now_ms();
    let mut waiting = Vec::new();
    for i in 0..3u64 {
        let s = session.clone();
        waiting.push(tokio::spawn(async move {
            // staggered: each publish has its own deadline, one timer serves them all
            tokio::time::sleep(std::time::Duration::from_millis(500 * i)).await;
            let start = rt::now_ms();
            let props = BasicProperties::default();
            let r = s
                .publish("", "late", b"x", &props, PublishOptions::default())
                .await;
            (r, rt::now_ms() - start)
        }));
    }
    for w in waiting {
        let (r, took) = w.await.unwrap();
        assert_eq!(r, Err(Error::Timeout));
        assert!((3_000..3_100).contains(&took), "timed out after {took} ms");
    }
    assert!(rt::now_ms() - t0 < 4_200);
    assert_eq!(session.pending_publishes(), (0, 0), "their places are free");
    session.stop().await;
}
