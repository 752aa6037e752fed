//! Group commit: callers hand in one item each and wait for its answer; a single task writes
//! whatever arrived while the previous write was running as the next batch. An item waits for
//! at most one batch and never for a timer, and under load one round trip serves many items.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

type Request<T, R> = (T, oneshot::Sender<R>);

/// Hands items to the task that writes them in batches.
pub struct GroupCommit<T, R> {
    tx: mpsc::Sender<Request<T, R>>,
    name: &'static str,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            name: self.name,
        }
    }
}

/// The writing task stopped (its runtime is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} stopped")]
pub struct Stopped(pub &'static str);

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the task. `write` gets up to `max_batch` items and returns one answer per item,
    /// in order. `name` says which writer stopped, in errors.
    pub fn spawn<W, F>(name: &'static str, max_batch: usize, write: W) -> Self
    where
        W: Fn(Vec<T>) -> F + Send + 'static,
        F: Future<Output = Vec<R>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Request<T, R>>(4 * max_batch);
        tokio::spawn(async move {
            let mut batch: Vec<Request<T, R>> = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut batch, max_batch).await > 0 {
                let (items, waiters): (Vec<T>, Vec<_>) = batch.drain(..).unzip();
                let answers = write(items).await;
                debug_assert_eq!(answers.len(), waiters.len(), "{name}: one answer per item");
                for (done, answer) in waiters.into_iter().zip(answers) {
                    let _ = done.send(answer);
                }
            }
        });
        Self { tx, name }
    }

    /// Hands `item` to the next batch and waits for its answer.
    pub async fn submit(&self, item: T) -> Result<R, Stopped> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((item, done))
            .await
            .map_err(|_| Stopped(self.name))?;
        wait.await.map_err(|_| Stopped(self.name))
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
        let commit = GroupCommit::spawn("test writer", 8, {
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

    async fn futures_answers(
        handles: Vec<tokio::task::JoinHandle<Result<u32, Stopped>>>,
    ) -> Vec<Result<u32, Stopped>> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
