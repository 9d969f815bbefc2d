//! Flags for the channel methods, named as in the AMQP spec. All default to `false`.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeDeclareOptions {
    pub passive: bool,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub nowait: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeDeleteOptions {
    pub if_unused: bool,
    pub nowait: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDeclareOptions {
    pub passive: bool,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub nowait: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDeleteOptions {
    pub if_unused: bool,
    pub if_empty: bool,
    pub nowait: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// Empty lets the broker choose a tag.
    pub tag: String,
    pub no_local: bool,
    pub no_ack: bool,
    pub exclusive: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishOptions {
    pub mandatory: bool,
    pub immediate: bool,
}

/// What `queue_declare` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub name: String,
    pub message_count: u32,
    pub consumer_count: u32,
}
