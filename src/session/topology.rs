//! What the application declared through a session, as plain data in declaration order, and the
//! one function that replays it on a new connection (lapin's `TopologyDefinition`, kept ordered).
//! Server-named queues get a new name on every replay; bindings and consumers refer to queues by
//! [`QueueRef`], so they follow the new name.

use crate::client::{Channel, Connection, ExchangeDeclareOptions, QueueDeclareOptions};
use crate::engine::Error;
use crate::protocol::FieldTable;
use std::sync::{Arc, Mutex};

/// A queue declared through the session. Its name is the broker's current one: a server-named
/// queue is renamed by each recovery, and the handle keeps working.
#[derive(Debug, Clone)]
pub struct QueueHandle {
    pub(crate) id: u64,
    pub(crate) name: Arc<Mutex<String>>,
}

impl QueueHandle {
    /// The queue's name on the current connection.
    pub fn name(&self) -> String {
        super::lock(&self.name).clone()
    }
}

/// A queue as a binding or subscription names it: a handle (follows renames) or a fixed name.
#[derive(Debug, Clone)]
pub enum QueueRef {
    Handle(QueueHandle),
    Name(String),
}

impl QueueRef {
    pub fn name(&self) -> String {
        match self {
            QueueRef::Handle(h) => h.name(),
            QueueRef::Name(n) => n.clone(),
        }
    }

    fn is(&self, other: &QueueRef) -> bool {
        match (self, other) {
            (QueueRef::Handle(a), QueueRef::Handle(b)) => a.id == b.id,
            _ => self.name() == other.name(),
        }
    }
}

impl From<&QueueHandle> for QueueRef {
    fn from(h: &QueueHandle) -> Self {
        QueueRef::Handle(h.clone())
    }
}

impl From<&str> for QueueRef {
    fn from(n: &str) -> Self {
        QueueRef::Name(n.to_owned())
    }
}

impl From<String> for QueueRef {
    fn from(n: String) -> Self {
        QueueRef::Name(n)
    }
}

/// One declaration, as the application made it.
#[derive(Debug, Clone)]
pub enum Declaration {
    Exchange {
        name: String,
        kind: String,
        options: ExchangeDeclareOptions,
        arguments: FieldTable,
    },
    Queue {
        handle: QueueHandle,
        /// As asked: empty for a server-named queue.
        requested: String,
        options: QueueDeclareOptions,
        arguments: FieldTable,
    },
    QueueBinding {
        queue: QueueRef,
        exchange: String,
        routing_key: String,
        arguments: FieldTable,
    },
    ExchangeBinding {
        destination: String,
        source: String,
        routing_key: String,
        arguments: FieldTable,
    },
}

impl Declaration {
    /// What a recovery-failed event names.
    pub fn describe(&self) -> String {
        match self {
            Declaration::Exchange { name, .. } => format!("exchange \"{name}\""),
            Declaration::Queue { handle, .. } => format!("queue \"{}\"", handle.name()),
            Declaration::QueueBinding {
                queue,
                exchange,
                routing_key,
                ..
            } => format!(
                "binding of queue \"{}\" to exchange \"{exchange}\" (\"{routing_key}\")",
                queue.name()
            ),
            Declaration::ExchangeBinding {
                destination,
                source,
                routing_key,
                ..
            } => format!(
                "binding of exchange \"{destination}\" to exchange \"{source}\" (\"{routing_key}\")"
            ),
        }
    }

    /// The queue it declares or binds, if any (what amqp-client's `onrecoverfailed` names).
    pub fn queue_name(&self) -> Option<String> {
        match self {
            Declaration::Queue { handle, .. } => Some(handle.name()),
            Declaration::QueueBinding { queue, .. } => Some(queue.name()),
            _ => None,
        }
    }

    /// Runs the declaration on `ch`; a queue declaration renames its handle.
    pub async fn apply(&self, ch: &Channel) -> Result<(), Error> {
        match self {
            Declaration::Exchange {
                name,
                kind,
                options,
                arguments,
            } => {
                ch.exchange_declare(name, kind, *options, arguments.clone())
                    .await
            }
            Declaration::Queue {
                handle,
                requested,
                options,
                arguments,
            } => {
                let info = ch
                    .queue_declare(requested, *options, arguments.clone())
                    .await?;
                *super::lock(&handle.name) = info.name;
                Ok(())
            }
            Declaration::QueueBinding {
                queue,
                exchange,
                routing_key,
                arguments,
            } => {
                ch.queue_bind(&queue.name(), exchange, routing_key, arguments.clone())
                    .await
            }
            Declaration::ExchangeBinding {
                destination,
                source,
                routing_key,
                arguments,
            } => {
                ch.exchange_bind(destination, source, routing_key, arguments.clone())
                    .await
            }
        }
    }
}

/// The recorded declarations, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub declarations: Vec<Declaration>,
}

impl Topology {
    /// Records a declaration; an identical earlier one is replaced where it stands (so what
    /// refers to it, e.g. a binding declared after it, is still replayed after it).
    pub fn record(&mut self, d: Declaration) {
        match self
            .declarations
            .iter()
            .position(|old| same_object(old, &d))
        {
            Some(i) => self.declarations[i] = d,
            None => self.declarations.push(d),
        }
    }

    /// The handle of a named queue declared earlier (a second declaration of the same name
    /// shares it, so deleting through either forgets both).
    pub fn queue_named(&self, name: &str) -> Option<QueueHandle> {
        self.declarations.iter().find_map(|d| match d {
            Declaration::Queue {
                handle, requested, ..
            } if !requested.is_empty() && requested == name => Some(handle.clone()),
            _ => None,
        })
    }

    pub fn forget_exchange(&mut self, name: &str) {
        self.declarations.retain(|d| match d {
            Declaration::Exchange { name: n, .. } => n != name,
            Declaration::QueueBinding { exchange, .. } => exchange != name,
            Declaration::ExchangeBinding {
                destination,
                source,
                ..
            } => destination != name && source != name,
            Declaration::Queue { .. } => true,
        });
    }

    pub fn forget_queue(&mut self, queue: &QueueRef) {
        self.declarations.retain(|d| match d {
            Declaration::Queue { handle, .. } => !queue.is(&QueueRef::Handle(handle.clone())),
            Declaration::QueueBinding { queue: q, .. } => !queue.is(q),
            _ => true,
        });
    }

    pub fn forget_queue_binding(&mut self, queue: &QueueRef, exchange: &str, key: &str) {
        self.declarations.retain(|d| match d {
            Declaration::QueueBinding {
                queue: q,
                exchange: e,
                routing_key: k,
                ..
            } => !(queue.is(q) && e == exchange && k == key),
            _ => true,
        });
    }

    pub fn forget_exchange_binding(&mut self, destination: &str, source: &str, key: &str) {
        self.declarations.retain(|d| match d {
            Declaration::ExchangeBinding {
                destination: dst,
                source: src,
                routing_key: k,
                ..
            } => !(dst == destination && src == source && k == key),
            _ => true,
        });
    }
}

/// Whether two declarations describe the same broker object (a re-declaration).
fn same_object(a: &Declaration, b: &Declaration) -> bool {
    match (a, b) {
        (Declaration::Exchange { name: x, .. }, Declaration::Exchange { name: y, .. }) => x == y,
        (Declaration::Queue { handle: x, .. }, Declaration::Queue { handle: y, .. }) => {
            x.id == y.id
        }
        (
            Declaration::QueueBinding {
                queue: q1,
                exchange: e1,
                routing_key: k1,
                ..
            },
            Declaration::QueueBinding {
                queue: q2,
                exchange: e2,
                routing_key: k2,
                ..
            },
        ) => q1.is(q2) && e1 == e2 && k1 == k2,
        (
            Declaration::ExchangeBinding {
                destination: d1,
                source: s1,
                routing_key: k1,
                ..
            },
            Declaration::ExchangeBinding {
                destination: d2,
                source: s2,
                routing_key: k2,
                ..
            },
        ) => d1 == d2 && s1 == s2 && k1 == k2,
        _ => false,
    }
}

/// Why a replay could not finish: the connection itself failed under it.
#[derive(Debug)]
pub struct ReplayAborted(pub Error);

/// Replays `declarations` in order on `conn`. A step the broker refuses (its channel is closed,
/// e.g. a passive declare of a queue that is gone) is reported through `failed` and a fresh
/// channel takes over; the rest still runs. Returns the channel left open for later use.
pub async fn replay(
    declarations: &[Declaration],
    conn: &Connection,
    mut ch: Channel,
    failed: &mut impl FnMut(&Declaration, Error),
) -> Result<Channel, ReplayAborted> {
    for d in declarations {
        match d.apply(&ch).await {
            Ok(()) => {}
            Err(e @ Error::ChannelClosed(_)) => {
                failed(d, e);
                ch = conn.channel(None).await.map_err(ReplayAborted)?;
            }
            Err(e) if !conn.is_open() => return Err(ReplayAborted(e)),
            Err(e) => failed(d, e),
        }
    }
    Ok(ch)
}
