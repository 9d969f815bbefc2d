//! A queue from the router to one reader (a consumer, or a channel's returns). What it holds
//! counts against the connection's read budget; whatever leaves it, taken or dropped unread, is
//! released, so a forgotten queue can never stall the connection.

use super::budget::cost;
use super::shared::Shared;
use crate::engine::{Delivery, Error, Returned};
use futures::channel::mpsc;
use futures::StreamExt;
use std::task::{Context, Poll};

/// What an item weighs against the read budget.
pub(crate) trait Charged {
    fn charged(&self) -> usize;
}

impl Charged for Result<Box<Delivery>, Error> {
    fn charged(&self) -> usize {
        self.as_ref().map_or(0, |d| cost(d.body.len()))
    }
}

impl Charged for Returned {
    fn charged(&self) -> usize {
        cost(self.body.len())
    }
}

/// The router's end: charges what it sends.
pub(crate) fn send<T: Charged>(
    tx: &mpsc::UnboundedSender<T>,
    item: T,
    budget: &super::budget::ReadBudget,
) -> bool {
    let weight = item.charged();
    let sent = tx.unbounded_send(item).is_ok();
    if sent {
        budget.charge(weight);
    }
    sent
}

pub(crate) struct Inbox<T: Charged> {
    rx: mpsc::UnboundedReceiver<T>,
    pub(crate) shared: Shared,
}

impl<T: Charged> Inbox<T> {
    pub fn new(rx: mpsc::UnboundedReceiver<T>, shared: Shared) -> Self {
        Inbox { rx, shared }
    }

    pub fn try_recv(&mut self) -> Result<T, mpsc::TryRecvError> {
        let item = self.rx.try_recv()?;
        self.shared.budget().release(item.charged());
        Ok(item)
    }

    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let next = self.rx.poll_next_unpin(cx);
        if let Poll::Ready(Some(item)) = &next {
            self.shared.budget().release(item.charged());
        }
        next
    }
}

impl<T: Charged> Drop for Inbox<T> {
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(item) = self.rx.try_recv() {
            self.shared.budget().release(item.charged());
        }
    }
}
