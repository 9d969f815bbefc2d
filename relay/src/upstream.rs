//! The connection to the broker: the configured upstreams in order until one accepts (each try
//! bounded by the connect timeout), TCP_NODELAY on, and the PROXY v2 header first when enabled.
//! The client never influences which upstream is used.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::proxy_protocol;

pub struct Upstream {
    pub stream: TcpStream,
    pub name: String,
}

/// `proxy`: (client address, address the client reached) for the PROXY header.
pub async fn connect(
    upstreams: &[String],
    connect_timeout: Duration,
    proxy: Option<(SocketAddr, SocketAddr)>,
    on_failure: impl Fn(&str, &str),
) -> Option<Upstream> {
    for name in upstreams {
        let attempt = async {
            let mut stream = TcpStream::connect(name.as_str()).await?;
            stream.set_nodelay(true)?;
            if let Some((client, local)) = proxy {
                stream
                    .write_all(&proxy_protocol::header(client, local))
                    .await?;
            }
            Ok::<_, std::io::Error>(stream)
        };
        match timeout(connect_timeout, attempt).await {
            Ok(Ok(stream)) => {
                return Some(Upstream {
                    stream,
                    name: name.clone(),
                })
            }
            Ok(Err(e)) => on_failure(name, &e.to_string()),
            Err(_) => on_failure(name, "connect timed out"),
        }
    }
    None
}
