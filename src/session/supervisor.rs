//! The session's one background task: connect (failover over the URLs), recover (replay the
//! topology, consume again), watch the live connection (blocked/unblocked, its end), back off,
//! repeat — until the session stops or gives up. Every wait also watches for `stop()`.

use super::backoff::Jitter;
use super::subscription::is_connection_level;
use super::{topology, Inner, Link, Notice, SessionEvent};
use crate::client::{Connection, ConnectionEvent, ConnectionUrl};
use crate::engine::Error;
use crate::protocol::ReplyCode;
use crate::rt;
use futures::channel::oneshot;
use futures::future::{select, Either, FutureExt, Shared};
use futures::StreamExt;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};

type Stop = Shared<oneshot::Receiver<()>>;

/// Refusals that another attempt would only repeat: bad credentials, an unknown vhost or a
/// mechanism the broker does not offer (all 403/530), and URLs that cannot work.
pub(crate) fn is_fatal(e: &Error) -> bool {
    match e {
        Error::ConnectionClosed(c) => {
            c.code == ReplyCode::ACCESS_REFUSED || c.code == ReplyCode::NOT_ALLOWED
        }
        Error::InvalidArgument(_) => true,
        _ => false,
    }
}

/// Runs `fut` unless the session stops first (`None`).
async fn unless_stopped<F: Future>(stop: &Stop, fut: F) -> Option<F::Output> {
    match select(pin!(fut), stop.clone()).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    stop: oneshot::Receiver<()>,
    first: oneshot::Sender<Result<(), Error>>,
    done: oneshot::Sender<()>,
) {
    let stop = stop.shared();
    let mut first = Some(first);
    let mut jitter = Jitter::new(rt::now_ms() ^ (Arc::as_ptr(&inner) as u64));
    let (mut failures, mut next_url, mut tried) = (0u32, 0usize, 0u64);
    loop {
        if inner.lock().stopped {
            break;
        }
        let url = inner.urls[next_url % inner.urls.len()].clone();
        // Every attempt is a new generation, failed ones too: a subscription consumed during a
        // recovery that then failed must be consumed again on the next connection.
        tried += 1;
        let Some(attempt) = unless_stopped(&stop, connect(&inner, url, tried)).await else {
            break;
        };
        match attempt {
            Ok(link) => {
                failures = 0;
                let generation = link.generation;
                let installed = {
                    let mut st = inner.lock();
                    if !st.stopped {
                        st.link = Some(link.clone());
                        st.blocked = false;
                        st.wake();
                        st.emit(SessionEvent::Recovered);
                    }
                    !st.stopped
                };
                if !installed {
                    let _ = link.conn.close().await;
                    break;
                }
                log::info!("warren session: recovered (connection #{generation})");
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(()));
                }
                let Some(error) = unless_stopped(&stop, watch(&inner, &link)).await else {
                    break;
                };
                {
                    let mut st = inner.lock();
                    if st.link.as_ref().is_some_and(|l| l.generation == generation) {
                        st.link = None;
                    }
                    st.wake();
                    if st.stopped {
                        break;
                    }
                    st.emit(SessionEvent::Disconnected {
                        error: error.clone(),
                    });
                }
                log::warn!("warren session: connection lost: {error}");
            }
            Err(e) => {
                failures += 1;
                let fatal = is_fatal(&e) && !inner.options.retry_fatal;
                // the first connect may be held to fewer attempts than reconnects
                let first_done = first.is_some()
                    && inner
                        .options
                        .first_connect_attempts
                        .is_some_and(|n| failures >= n.max(1));
                if fatal || first_done || !inner.options.backoff.allows(failures) {
                    log::error!("warren session: giving up after {failures} attempt(s): {e}");
                    give_up(&inner, e.clone());
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Err(e));
                    }
                    break;
                }
                log::warn!("warren session: attempt {failures} failed: {e}");
                next_url += 1;
            }
        }
        let attempt = failures + 1;
        let delay = inner.options.backoff.delay_ms(attempt, jitter.next_unit());
        inner.emit(SessionEvent::Reconnecting {
            attempt,
            delay_ms: delay,
        });
        log::info!("warren session: reconnecting in {delay} ms (attempt {attempt})");
        // `Session::retry_now` (the network came back, the page was shown) ends the wait early.
        let (retry_tx, retry_rx) = oneshot::channel::<()>();
        inner.lock().retry = Some(retry_tx);
        let wait = select(rt::sleep_ms(delay), retry_rx);
        let waited = unless_stopped(&stop, wait).await;
        inner.lock().retry = None;
        if waited.is_none() {
            break;
        }
    }
    let _ = done.send(());
}

fn give_up(inner: &Inner, e: Error) {
    let mut st = inner.lock();
    st.failed = Some(e.clone());
    for r in st.subscriptions.drain(..) {
        r.end();
    }
    st.wake();
    st.emit(SessionEvent::Failed { error: e });
    // the last event: the streams end after it (their readers finish)
    st.listeners.clear();
    st.notices.clear();
}

/// Waits for the live connection to end (its error), tracking blocked/unblocked meanwhile.
async fn watch(inner: &Inner, link: &Link) -> Error {
    let mut events = link.conn.events();
    let mut ended = pin!(link.conn.closed());
    loop {
        match select(ended.as_mut(), events.next()).await {
            Either::Left((error, _)) => return error.unwrap_or(Error::NotOpen("connection")),
            Either::Right((Some(ev), _)) => {
                let mut st = inner.lock();
                st.blocked = matches!(ev, ConnectionEvent::Blocked(_));
                st.wake();
                match ev {
                    ConnectionEvent::Blocked(reason) => {
                        st.notify(|| Notice::Blocked(reason.clone()))
                    }
                    ConnectionEvent::Unblocked => st.notify(|| Notice::Unblocked),
                }
            }
            // No more events: only the end is left to wait for.
            Either::Right((None, _)) => return ended.await.unwrap_or(Error::NotOpen("connection")),
        }
    }
}

/// Reports an object a recovery could not restore: logged, an event and a notice.
fn recovery_failed(inner: &Inner, queue: Option<String>, object: String, error: Error) {
    log::warn!("warren session: could not restore {object}: {error}");
    let mut st = inner.lock();
    st.notify(|| Notice::RecoveryFailed {
        queue: queue.clone(),
        object: object.clone(),
        error: error.clone(),
    });
    st.emit(SessionEvent::RecoveryFailed { object, error });
}

/// Hands the publish channel's returned (unroutable `mandatory`) messages to the notice
/// listeners, until the channel ends.
pub(crate) fn forward_returns(
    inner: &Arc<Inner>,
    publish: &crate::client::Channel,
    conn: &Connection,
) {
    let mut returns = publish.returns();
    let (channel, connection) = (publish.clone(), conn.clone());
    let inner = Arc::downgrade(inner);
    super::spawn(async move {
        while let Some(r) = returns.next().await {
            let Some(inner) = inner.upgrade() else { break };
            inner.lock().notify(|| Notice::Returned {
                message: Box::new(r.clone()),
                channel: channel.clone(),
                connection: connection.clone(),
            });
        }
    });
}

/// One attempt: the hook, the connection, then recovery, all under the attempt's deadline. A
/// connection that opened but could not be recovered is closed again.
async fn connect(inner: &Arc<Inner>, url: ConnectionUrl, generation: u64) -> Result<Link, Error> {
    let url = match &inner.options.before_connect {
        Some(hook) => hook(url).await?,
        None => url,
    };
    let limit = inner
        .options
        .connect_timeout_ms
        .unwrap_or(url.connection_timeout_ms);
    let opened: Arc<Mutex<Option<Connection>>> = Arc::default();
    let attempt = open_and_recover(inner, &url, generation, &opened);
    // 0 = no deadline for the attempt (as `connection_timeout=0` on a connection)
    let result = if limit == 0 {
        attempt.await
    } else {
        rt::timeout(limit, attempt)
            .await
            .unwrap_or(Err(Error::Timeout))
    };
    if result.is_err() {
        let conn = super::lock(&opened).take();
        if let Some(conn) = conn {
            super::spawn(async move {
                let _ = conn.close().await;
            });
        }
    }
    result
}

async fn open_and_recover(
    inner: &Arc<Inner>,
    url: &ConnectionUrl,
    generation: u64,
    opened: &Mutex<Option<Connection>>,
) -> Result<Link, Error> {
    let conn = match &inner.dialer {
        Some(dial) => {
            let start = rt::now_ms();
            Connection::open_url(dial(url).await?, "", url, start).await?
        }
        None => Connection::connect_with(url).await?,
    };
    *super::lock(opened) = Some(conn.clone());
    let redacted = url.redacted();
    log::info!("warren session: connected to {redacted}");
    inner.emit(SessionEvent::Connected { url: redacted });

    let publish = conn.channel(None).await?;
    if inner.options.confirm {
        publish.confirm_select().await?;
    }
    forward_returns(inner, &publish, &conn);
    let declarations = inner.lock().topology.declarations.clone();
    let control = conn.channel(None).await?;
    let mut report = move |d: &topology::Declaration, error: Error| {
        recovery_failed(inner, d.queue_name(), d.describe(), error);
    };
    let control = topology::replay(&declarations, &conn, control, &mut report)
        .await
        .map_err(|a| a.0)?;
    let subscriptions = inner.lock().subscriptions.clone();
    for s in subscriptions {
        match s.consume(&conn, generation).await {
            Ok(()) => {}
            Err(e) if is_connection_level(&e) || !conn.is_open() => return Err(e),
            Err(error) => {
                let queue = s.queue.name();
                let object = format!("subscription to queue \"{queue}\"");
                recovery_failed(inner, Some(queue), object, error);
            }
        }
    }
    Ok(Link {
        conn,
        control,
        publish,
        plain: None,
        generation,
    })
}
