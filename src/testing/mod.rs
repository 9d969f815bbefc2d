//! Test support shared by the crate's own tests: an in-memory, scripted AMQP broker
//! ([`FakeServer`]) that the real client runs against over `tokio::io::duplex`.

pub(crate) mod fake_server;

#[allow(unused_imports)] // for the session tests
pub(crate) use fake_server::FakeServer;
