//! Waiting on several things at once, without pulling in a futures crate for it.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// The output of whichever of `futures` finishes first (a tiny `select_all` for a
/// handful). Never resolves for an empty list.
pub async fn first_of<F: Future + Unpin>(mut futures: Vec<F>) -> F::Output {
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if let Poll::Ready(out) = Pin::new(f).poll(cx) {
                return Poll::Ready(out);
            }
        }
        Poll::Pending
    })
    .await
}
