//! The AMQP 0-9-1 codec: pure functions from bytes to typed frames and back. No state beyond the
//! frame reassembly buffer, no IO, no clock.

pub mod codec;
pub mod frame;
pub mod methods;
pub mod properties;
pub mod reply_code;
pub mod shortstr;
pub mod table;

pub use codec::{DecodeError, EncodeError};
pub use frame::{
    encode_content, encode_heartbeat, encode_method, encode_publish, Frame, FrameDecoder, RawFrame,
    FRAME_MIN_SIZE, PROTOCOL_HEADER,
};
pub use methods::*;
pub use properties::{BasicProperties, ContentHeader};
pub use reply_code::ReplyCode;
pub use shortstr::ShortStr;
pub use table::{FieldTable, FieldValue};
