//! The hostile broker of tests/native/hostile.rs as a standalone server, for the browser tests
//! (tests/browser_hostile.rs) that reach it through a warren-relay (scripts/hostile).
//!
//!   cargo run --features tokio --example hostile_broker -- 127.0.0.1:5680
//!
//! One port serves both sides: a connection that starts with `AMQP` gets the script chosen
//! last; one that starts with an HTTP request line `GET /case/NAME` chooses the script of case
//! NAME (tests/support/hostile_server.rs, `CASES`) for the AMQP connections that follow and is
//! answered `200` (CORS open, so a page's `fetch` can do it). After each AMQP connection the
//! server prints one line: the case, the reply code of the client's connection.close (or
//! `none`), whether the client closed its socket, the body bytes an endless body got out and
//! everything the client sent after the misbehaviour began.
//!
//! `GET /seen` answers what the server read on the AMQP connection of the case chosen last, as
//! plain text, one item per line: `case NAME`, `heartbeat N` (what the client's tune-ok said),
//! `heartbeats N` (heartbeat frames it sent after the misbehaviour began), then one line per
//! method it sent in order (`Seen::sent`: `connection.close 501 `text``, `basic.reject 7
//! requeue=true`, `basic.cancel `tag``, ...) and `socket closed` if it closed its socket. It
//! waits (at most 10 s, else `504`) until a connection begun since that `GET /case/NAME` has
//! ended and none is still open, so a test asks after its connection ended without sleeping.

#[path = "../tests/support/hostile_server.rs"]
mod hostile_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The case chosen last and what its connections did.
struct State {
    chosen: String,
    /// Counts `GET /case/NAME` requests: a connection belongs to the choice it began under.
    choice: u64,
    /// AMQP connections begun since the case was chosen and still open.
    open: usize,
    /// What the last of them that ended sent (`GET /seen`).
    last: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken when an AMQP connection ends.
    ended: Notify,
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5680".into());
    let listener = TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!(
        "hostile broker on {addr}; cases: {}",
        hostile_server::CASES.join(" ")
    );
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            chosen: String::from("close-with-unknown-code"),
            choice: 0,
            open: 0,
            last: None,
        }),
        ended: Notify::new(),
    });
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(connection(sock, shared.clone()));
    }
}

async fn connection(sock: TcpStream, shared: Arc<Shared>) {
    let mut first = [0u8; 4];
    // peek: the AMQP side must see the protocol header itself
    let n = match tokio::time::timeout(std::time::Duration::from_secs(10), sock.peek(&mut first))
        .await
    {
        Ok(Ok(n)) => n,
        _ => return,
    };
    if &first[..n] == b"AMQP" {
        let (name, choice) = {
            let mut st = shared.state.lock().unwrap();
            st.open += 1;
            (st.chosen.clone(), st.choice)
        };
        let script = hostile_server::case(&name).expect("a known case");
        let seen = hostile_server::play(sock, &script).await;
        let code = seen
            .close()
            .map_or("none".to_string(), |c| c.reply_code.to_string());
        let sent = seen.sent();
        println!(
            "case {name}: client sent close {code}, socket closed: {}, body bytes out: {}, sent: {}",
            seen.eof,
            seen.body_bytes,
            sent.join(", ")
        );
        let mut record = vec![
            format!("case {name}"),
            format!(
                "heartbeat {}",
                seen.tune_ok.as_ref().map_or(-1, |t| i32::from(t.heartbeat))
            ),
            format!("heartbeats {}", seen.heartbeats()),
        ];
        record.extend(sent);
        let mut st = shared.state.lock().unwrap();
        // A connection begun under an earlier choice (the case changed while it ran) is not
        // this case's.
        if st.choice == choice {
            st.open -= 1;
            st.last = Some(record.join("\n") + "\n");
        }
        drop(st);
        shared.ended.notify_waiters();
    } else {
        control(sock, &shared).await;
    }
}

/// What `GET /seen` answers: the record of the chosen case's last ended connection, once none
/// is open (bounded wait).
async fn seen(shared: &Shared) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ended = shared.ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        {
            let st = shared.state.lock().unwrap();
            if st.open == 0 {
                if let Some(r) = &st.last {
                    return Some(r.clone());
                }
            }
        }
        if tokio::time::timeout_at(deadline, ended).await.is_err() {
            return None;
        }
    }
}

/// Answers one HTTP request: `GET /case/NAME` selects a case, `GET /seen` reports on it.
async fn control(mut sock: TcpStream, shared: &Shared) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => req.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path.strip_prefix("/case/") {
        Some(name) if hostile_server::case(name).is_some() => {
            let mut st = shared.state.lock().unwrap();
            st.chosen = name.to_string();
            st.choice += 1;
            st.open = 0;
            st.last = None;
            ("200 OK", format!("case {name}"))
        }
        _ if path == "/seen" => match seen(shared).await {
            Some(record) => ("200 OK", record),
            None => (
                "504 Gateway Timeout",
                "no connection of this case ended within 10 s\n".to_string(),
            ),
        },
        _ => ("404 Not Found", format!("no case {path:?}")),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
}
