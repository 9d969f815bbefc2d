//! Integration tests of the warren-relay binary: each test starts the real binary with its own
//! config on free loopback ports, in front of small in-process upstreams (echo, capture, silent)
//! or, when `WARREN_RELAY_TEST_AMQP` names one (scripts/test does), the real RabbitMQ.

mod harness;

mod forwarding;
mod lifecycle;
mod proxy;
mod refusals;
mod secrets;
mod tls;
