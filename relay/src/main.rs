//! warren-relay: WebSocket (ws:// or wss://) to AMQP 0-9-1 over TCP, for browser and Deno clients
//! of RabbitMQ, which has no AMQP 0-9-1 WebSocket endpoint of its own. See README.md ("RabbitMQ").
//!
//! Files: config (flags + TOML), origin (allowlist), forwarded (client address behind proxies),
//! limits (admission), handshake (the upgrade decision), upstream (failover connect + PROXY v2
//! from proxy_protocol), forward (the byte pump), tls (wss + SIGHUP reload), metrics + admin
//! (/metrics, /healthz), shutdown (SIGTERM drain), server (one connection's life).

mod admin;
mod config;
mod forward;
mod forwarded;
mod handshake;
mod limits;
mod metrics;
mod origin;
mod proxy_protocol;
mod server;
mod shutdown;
mod tls;
mod upstream;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use config::{Config, Flags, LogFormat};
use shutdown::{Phase, Shutdown};

fn init_logs(c: &Config) -> Result<(), String> {
    // only the relay's own events: dependencies' debug output could include frame contents
    let filter = EnvFilter::try_new(format!("warn,warren_relay={}", c.log_level))
        .map_err(|e| format!("log_level: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match c.log_format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

fn main() -> ExitCode {
    let config = match Config::load(Flags::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warren-relay: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logs(&config) {
        eprintln!("warren-relay: {e}");
        return ExitCode::from(2);
    }
    let mut builder = match config.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let tls = config.tls.clone().map(tls::Tls::new).transpose()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", config.listen))?;
    let admin = match config.admin_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|e| format!("admin_listen {a}: {e}"))?,
        ),
        None => None,
    };
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let state = Arc::new(server::State {
        limits: limits::Limits::new(&config),
        metrics: Arc::new(metrics::Metrics::default()),
        shutdown: Shutdown::new(),
        tls,
        config,
    });
    let c = &state.config;
    if !c.listen.ip().is_loopback() {
        warn!(listen = %c.listen, "listening beyond loopback");
    }
    info!(
        listen = %c.listen,
        scheme = if state.tls.is_some() { "wss" } else { "ws" },
        path = %c.path,
        upstreams = %c.upstreams.join(","),
        admin = %c.admin_listen.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        proxy_protocol = c.proxy_protocol,
        "warren-relay listening"
    );
    if let Some(admin) = admin {
        tokio::spawn(admin::serve(admin, state.clone()));
    }
    let accept = tokio::spawn(server::serve(listener, state.clone()));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match &state.tls {
                Some(t) => match t.reload() {
                    Ok(()) => { state.metrics.tls_reloaded(true); info!("TLS certificate reloaded") }
                    Err(e) => { state.metrics.tls_reloaded(false); error!(error = %e, "TLS reload failed; keeping the previous certificate") }
                },
                None => info!("SIGHUP: no TLS configured, nothing to reload"),
            },
        }
    }
    let open = state.limits.open_connections();
    info!(
        open,
        drain_timeout_s = c.drain_timeout.as_secs_f64(),
        "shutting down: draining"
    );
    state.shutdown.set(Phase::Draining);
    let _ = accept.await;
    if tokio::time::timeout(c.drain_timeout, state.shutdown.idle())
        .await
        .is_err()
    {
        info!(
            open = state.limits.open_connections(),
            "drain deadline reached; closing the rest"
        );
        state.shutdown.set(Phase::Closing);
        // each connection's close handshake is bounded (forward::CLOSE_WAIT); so is this wait
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(10), state.shutdown.idle()).await;
    }
    info!("stopped");
    Ok(())
}
