//! Group commit: callers hand in one item each and wait for its answer; a single task writes
//! whatever arrived while the previous write was running, plus what arrives within a short
//! linger after the first item (cut short by an item handed in with `submit_now`), as the next
//! batch. Under load one round trip serves many items.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

type Request<T, R> = (T, oneshot::Sender<R>);

/// Hands items to the task that writes them in batches.
pub struct GroupCommit<T, R> {
    tx: mpsc::Sender<Request<T, R>>,
    name: &'static str,
    /// Ends the current (or next) linger: see [`GroupCommit::submit_now`].
    flush: Arc<Notify>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            name: self.name,
            flush: self.flush.clone(),
        }
    }
}

/// The writing task stopped (its runtime is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} stopped")]
pub struct Stopped(pub &'static str);

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the task. `write` gets up to `max_batch` items and returns one answer per item,
    /// in order. A batch that is not full when its first item arrives waits `linger` for more
    /// (zero: it is written at once). `name` says which writer stopped, in errors.
    pub fn spawn<W, F>(name: &'static str, max_batch: usize, linger: Duration, write: W) -> Self
    where
        W: Fn(Vec<T>) -> F + Send + 'static,
        F: Future<Output = Vec<R>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Request<T, R>>(4 * max_batch);
        let flush = Arc::new(Notify::new());
        let flushed = flush.clone();
        tokio::spawn(async move {
            let mut batch: Vec<Request<T, R>> = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut batch, max_batch).await > 0 {
                if !linger.is_zero() && batch.len() < max_batch {
                    // One timer per batch, not a wake-up per item: what arrived meanwhile is
                    // taken at once when it ends. Only `submit_now` cuts it short (a permit
                    // left by an item already written ends one later linger early: harmless).
                    tokio::select! {
                        _ = tokio::time::sleep(linger) => {}
                        _ = flushed.notified() => {}
                    }
                    while batch.len() < max_batch {
                        match rx.try_recv() {
                            Ok(request) => batch.push(request),
                            Err(_) => break,
                        }
                    }
                }
                let (items, waiters): (Vec<T>, Vec<_>) = batch.drain(..).unzip();
                let answers = write(items).await;
                debug_assert_eq!(answers.len(), waiters.len(), "{name}: one answer per item");
                for (done, answer) in waiters.into_iter().zip(answers) {
                    let _ = done.send(answer);
                }
            }
        });
        Self { tx, name, flush }
    }

    /// Like [`submit`](Self::submit), for an item that must not wait for company: the batch it
    /// joins is written without waiting out the rest of its linger.
    pub async fn submit_now(&self, item: T) -> Result<R, Stopped> {
        let answer = self.send(item).await?;
        // After the send: the writer that wakes finds the item in the channel.
        self.flush.notify_one();
        answer.await.map_err(|_| Stopped(self.name))
    }

    /// Hands `item` to the next batch and waits for its answer.
    pub async fn submit(&self, item: T) -> Result<R, Stopped> {
        let answer = self.send(item).await?;
        answer.await.map_err(|_| Stopped(self.name))
    }

    async fn send(&self, item: T) -> Result<oneshot::Receiver<R>, Stopped> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send((item, done))
            .await
            .map_err(|_| Stopped(self.name))?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn items_that_arrive_during_a_write_share_the_next_batch_and_get_their_own_answers() {
        let batches = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        // Each write waits for a permit, so the test decides when a batch ends.
        let gate = Arc::new(Semaphore::new(0));
        let commit = GroupCommit::spawn("test writer", 8, Duration::ZERO, {
            let (batches, gate) = (batches.clone(), gate.clone());
            move |items: Vec<u32>| {
                let (batches, gate) = (batches.clone(), gate.clone());
                async move {
                    batches.lock().unwrap().push(items.clone());
                    gate.acquire().await.unwrap().forget();
                    items.iter().map(|i| i * 10).collect::<Vec<_>>()
                }
            }
        });
        let first = tokio::spawn({
            let commit = commit.clone();
            async move { commit.submit(1).await }
        });
        while batches.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (2..=4)
            .map(|i| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.submit(i).await })
            })
            .collect();
        // Let all three reach the channel while the first write still waits.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(2);

        assert_eq!(first.await.unwrap(), Ok(10));
        let answers: Vec<_> = futures_answers(later).await;
        assert_eq!(answers, vec![Ok(20), Ok(30), Ok(40)]);
        assert_eq!(*batches.lock().unwrap(), vec![vec![1], vec![2, 3, 4]]);
    }

    type Batches = Arc<Mutex<Vec<Vec<u32>>>>;
    type Submitted = tokio::task::JoinHandle<Result<u32, Stopped>>;

    /// Records each batch it is given and answers every item with itself.
    fn recording_writer(max_batch: usize, linger: Duration) -> (GroupCommit<u32, u32>, Batches) {
        let batches = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let commit = GroupCommit::spawn("test writer", max_batch, linger, {
            let batches = batches.clone();
            move |items: Vec<u32>| {
                let batches = batches.clone();
                async move {
                    batches.lock().unwrap().push(items.clone());
                    items
                }
            }
        });
        (commit, batches)
    }

    fn submit_at(commit: &GroupCommit<u32, u32>, item: u32, after: Duration) -> Submitted {
        let commit = commit.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            commit.submit(item).await
        })
    }

    #[tokio::test(start_paused = true)]
    async fn items_within_the_linger_of_the_first_share_its_batch_and_later_ones_do_not() {
        let (commit, batches) = recording_writer(8, Duration::from_millis(10));
        let handles = vec![
            submit_at(&commit, 1, Duration::ZERO),
            submit_at(&commit, 2, Duration::from_millis(4)),
            submit_at(&commit, 3, Duration::from_millis(9)),
            submit_at(&commit, 4, Duration::from_millis(25)),
        ];
        assert_eq!(
            futures_answers(handles).await,
            vec![Ok(1), Ok(2), Ok(3), Ok(4)]
        );
        assert_eq!(*batches.lock().unwrap(), vec![vec![1, 2, 3], vec![4]]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_handed_in_now_ends_the_linger_of_the_batch_it_joins() {
        let (commit, batches) = recording_writer(8, Duration::from_millis(40));
        let start = tokio::time::Instant::now();
        let first = submit_at(&commit, 1, Duration::ZERO);
        let urgent = {
            let commit = commit.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                commit.submit_now(2).await
            })
        };
        let later = submit_at(&commit, 3, Duration::from_millis(20));
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(5),
            "written when 2 came, not at 40 ms"
        );
        assert_eq!(
            futures_answers(vec![urgent, later]).await,
            vec![Ok(2), Ok(3)]
        );
        assert_eq!(*batches.lock().unwrap(), vec![vec![1, 2], vec![3]]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_handed_in_now_to_an_idle_writer_is_written_at_once() {
        let (commit, batches) = recording_writer(8, Duration::from_millis(40));
        let start = tokio::time::Instant::now();
        assert_eq!(commit.submit_now(7).await, Ok(7));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(*batches.lock().unwrap(), vec![vec![7]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_linger_never_makes_a_batch_larger_than_its_limit() {
        let (commit, batches) = recording_writer(2, Duration::from_millis(10));
        let handles = (1..=5)
            .map(|i| submit_at(&commit, i, Duration::ZERO))
            .collect();
        assert_eq!(
            futures_answers(handles).await,
            (1..=5).map(Ok).collect::<Vec<_>>()
        );
        let batches = batches.lock().unwrap();
        assert!(batches.iter().all(|b| b.len() <= 2), "{batches:?}");
        assert_eq!(batches.concat(), vec![1, 2, 3, 4, 5]);
    }

    async fn futures_answers(handles: Vec<Submitted>) -> Vec<Result<u32, Stopped>> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
