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
//! `none`), whether the client closed its socket, and the body bytes an endless body got out.

#[path = "../tests/support/hostile_server.rs"]
mod hostile_server;

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
    let chosen = Arc::new(Mutex::new(String::from("close-with-unknown-code")));
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(connection(sock, chosen.clone()));
    }
}

async fn connection(sock: TcpStream, chosen: Arc<Mutex<String>>) {
    let mut first = [0u8; 4];
    // peek: the AMQP side must see the protocol header itself
    let n = match tokio::time::timeout(std::time::Duration::from_secs(10), sock.peek(&mut first))
        .await
    {
        Ok(Ok(n)) => n,
        _ => return,
    };
    if &first[..n] == b"AMQP" {
        let name = chosen.lock().unwrap().clone();
        let script = hostile_server::case(&name).expect("a known case");
        let seen = hostile_server::play(sock, &script).await;
        let code = seen
            .close()
            .map_or("none".to_string(), |c| c.reply_code.to_string());
        println!(
            "case {name}: client sent close {code}, socket closed: {}, body bytes out: {}",
            seen.eof, seen.body_bytes
        );
    } else {
        control(sock, &chosen).await;
    }
}

/// Answers one HTTP request: `GET /case/NAME` selects a case.
async fn control(mut sock: TcpStream, chosen: &Mutex<String>) {
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
            *chosen.lock().unwrap() = name.to_string();
            ("200 OK", format!("case {name}"))
        }
        _ => ("404 Not Found", format!("no case {path:?}")),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
}
