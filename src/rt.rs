//! One tiny shim per target for spawn, sleep, a monotonic clock and a bounded wait, so `client/`
//! (and the session above it) is written once.

use std::future::Future;
use std::pin::Pin;

/// A bounded wait ran out (see [`timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `fut` for at most `ms` milliseconds.
pub async fn timeout<F: Future>(ms: u64, fut: F) -> Result<F::Output, Elapsed> {
    let fut = std::pin::pin!(fut);
    match futures::future::select(fut, sleep_ms(ms)).await {
        futures::future::Either::Left((out, _)) => Ok(out),
        futures::future::Either::Right(_) => Err(Elapsed),
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;

    /// Futures spawned on wasm need not be `Send` (there is one thread).
    pub trait MaybeSend {}
    impl<T: ?Sized> MaybeSend for T {}

    pub type Sleep = gloo_timers::future::TimeoutFuture;

    /// A boxed future the runtime can spawn (no `Send` needed on wasm).
    pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

    pub fn spawn(fut: impl Future<Output = ()> + 'static) {
        wasm_bindgen_futures::spawn_local(fut);
    }

    pub fn sleep_ms(ms: u64) -> Pin<Box<Sleep>> {
        Box::pin(gloo_timers::future::TimeoutFuture::new(
            // setTimeout fires at once for delays past 2^31-1 ms (~24.8 days): clamp to that
            ms.min(i32::MAX as u64) as u32,
        ))
    }

    /// Milliseconds from `performance.now()` (Window and Worker scopes), or `Date.now()` where absent.
    pub fn now_ms() -> u64 {
        use wasm_bindgen::JsCast;
        let global = js_sys::global();
        let perf = js_sys::Reflect::get(&global, &"performance".into()).ok();
        match perf.and_then(|p| p.dyn_into::<web_sys::Performance>().ok()) {
            Some(p) => p.now() as u64,
            None => js_sys::Date::now() as u64,
        }
    }
}

#[cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
mod imp {
    use super::*;
    use std::sync::OnceLock;
    use std::time::Instant;

    pub trait MaybeSend: Send {}
    impl<T: Send + ?Sized> MaybeSend for T {}

    pub type Sleep = tokio::time::Sleep;

    /// A boxed future the runtime can spawn.
    pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

    pub fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(fut);
    }

    pub fn sleep_ms(ms: u64) -> Pin<Box<Sleep>> {
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms)))
    }

    /// Milliseconds on tokio's clock, so a paused runtime (`start_paused` tests, virtual time)
    /// drives the engine's deadlines. The origin is process-wide; a paused runtime whose clock
    /// reads earlier than it (started before it, in another test) must not be stuck at 0, hence
    /// the bias of a day.
    pub fn now_ms() -> u64 {
        const BIAS_MS: u64 = 86_400_000;
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        let now = tokio::time::Instant::now().into_std();
        match now.checked_duration_since(start) {
            Some(ahead) => BIAS_MS + ahead.as_millis() as u64,
            None => BIAS_MS.saturating_sub(start.duration_since(now).as_millis() as u64),
        }
    }
}

pub use imp::*;
