//! Builds the application for a role from settings. Tests start the same pieces on random
//! ports through [`spawn_api`] and [`spawn_worker`].

use std::sync::Arc;
use std::time::Duration;

use salvo::Server;
use salvo::conn::{Acceptor, Listener, TcpListener, UnixListener};
use salvo::server::ServerHandle;
use tokio::task::JoinHandle;

use crate::api::{self, Api, Surface};
use crate::config::{ListenAddr, Settings};
use crate::ledger::{self, Ledger};
use crate::metrics::Metrics;
use crate::queue::{DedupeWindow, Queue};
use crate::shutdown::{self, Shutdown, ShutdownTrigger};
use crate::worker::{self, WorkerContext};

/// What the binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Worker,
    /// API and worker in one process.
    All,
    Migrate,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "api" => Some(Role::Api),
            "worker" => Some(Role::Worker),
            "all" => Some(Role::All),
            "migrate" => Some(Role::Migrate),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("redis: {0}")]
    Queue(#[from] crate::queue::QueueError),
    #[error("ledger: {0}")]
    Ledger(#[from] ledger::LedgerError),
}

/// Redis answers in well under a millisecond; waiting longer than this means it is down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// A queue connection with the configured dedupe window.
async fn connect_queue(settings: &Settings) -> Result<Queue, StartupError> {
    let queue = Queue::connect(&settings.redis_url, REDIS_TIMEOUT).await?;
    Ok(queue.with_dedupe_window(DedupeWindow::new(settings.dedupe_window)))
}

/// Runs `role` until SIGTERM/SIGINT; returns when drained.
pub async fn run(role: Role, settings: Settings) -> Result<(), StartupError> {
    if role == Role::Migrate {
        let mut client = Ledger::connect_one(&settings.postgres_url).await?;
        let applied = ledger::migrate::run(&mut client).await?;
        tracing::info!(applied, "migrations done");
        return Ok(());
    }
    let (trigger, shutdown) = shutdown::channel();
    let metrics = Arc::new(Metrics::default());
    let mut api = None;
    let mut worker = None;
    if matches!(role, Role::Api | Role::All) {
        api = Some(spawn_api(&settings, metrics.clone(), Surface::Public).await?);
    }
    if matches!(role, Role::Worker | Role::All) {
        worker = Some(spawn_worker(&settings, metrics.clone(), shutdown.clone()).await?);
    }
    tracing::info!(?role, "ready");
    crate::notify::ready(settings.process.notify_socket.as_deref());

    shutdown::signal().await;
    tracing::info!("shutdown requested");
    stop(trigger, api, worker, settings.drain_deadline).await;
    Ok(())
}

async fn stop(
    trigger: ShutdownTrigger,
    api: Option<RunningServer>,
    worker: Option<RunningWorker>,
    drain: Duration,
) {
    trigger.trigger();
    if let Some(api) = api {
        api.stop(drain).await;
    }
    if let Some(worker) = worker {
        worker.stop(drain).await;
    }
}

/// A running HTTP server.
pub struct RunningServer {
    /// `host:port` for TCP, the socket path for unix listeners.
    pub addr: String,
    handle: ServerHandle,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (bounded by `drain`).
    pub async fn stop(self, drain: Duration) {
        self.handle.stop_graceful(drain);
        let _ = self.task.await;
    }
}

/// Binds `listen` and serves `api` on it.
pub async fn serve(listen: &ListenAddr, api: Api) -> Result<RunningServer, StartupError> {
    serve_service(listen, api::service(api)).await
}

/// Binds `listen` as the API does (stale unix socket removed, mode 0666) and serves `service`.
pub async fn serve_service(
    listen: &ListenAddr,
    service: salvo::Service,
) -> Result<RunningServer, StartupError> {
    match listen {
        ListenAddr::Tcp(addr) => {
            let acceptor = TcpListener::new(addr.clone())
                .try_bind()
                .await
                .map_err(|e| StartupError::Listen {
                    addr: addr.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
            let addr = acceptor
                .holdings()
                .first()
                .and_then(|h| h.local_addr.clone().into_std())
                .map(|a| a.to_string())
                .unwrap_or_else(|| addr.clone());
            Ok(start(Server::new(acceptor), service, addr))
        }
        ListenAddr::Unix(path) => {
            // A stale socket from a crashed run would make bind fail.
            let _ = std::fs::remove_file(path);
            let acceptor = UnixListener::new(path.clone())
                .permissions(
                    <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666),
                )
                .try_bind()
                .await
                .map_err(|e| StartupError::Listen {
                    addr: path.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })?;
            Ok(start(
                Server::new(acceptor),
                service,
                path.display().to_string(),
            ))
        }
    }
}

fn start<A: Acceptor + Send + 'static>(
    server: Server<A>,
    service: salvo::Service,
    addr: String,
) -> RunningServer {
    let handle = server.handle();
    let task = tokio::spawn(server.serve(service));
    RunningServer { addr, handle, task }
}

/// Connects to Redis and PostgreSQL and serves the API surface on `settings.listen`.
pub async fn spawn_api(
    settings: &Settings,
    metrics: Arc<Metrics>,
    surface: Surface,
) -> Result<RunningServer, StartupError> {
    let queue = connect_queue(settings).await?;
    let ledger = Ledger::new(&settings.postgres_url, &settings.ledger_pool())?;
    serve_api(settings, queue, ledger, metrics, surface).await
}

/// Serves the API surface over connections the caller already holds.
async fn serve_api(
    settings: &Settings,
    queue: Queue,
    ledger: Ledger,
    metrics: Arc<Metrics>,
    surface: Surface,
) -> Result<RunningServer, StartupError> {
    let listen = match surface {
        Surface::Public => &settings.listen,
        Surface::Operations => &settings.worker_listen,
    };
    serve(
        listen,
        Api {
            settings: Arc::new(settings.clone()),
            queue,
            ledger,
            metrics,
            surface,
        },
    )
    .await
}

/// A running worker and its operations listener.
pub struct RunningWorker {
    pub operations: RunningServer,
    task: JoinHandle<()>,
}

impl RunningWorker {
    /// Waits for the worker to drain (it was told by the shutdown trigger).
    pub async fn stop(self, drain: Duration) {
        let _ = tokio::time::timeout(drain + Duration::from_secs(1), self.task).await;
        self.operations.stop(Duration::from_millis(100)).await;
    }
}

/// Starts the worker loop and its health/metrics listener.
pub async fn spawn_worker(
    settings: &Settings,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<RunningWorker, StartupError> {
    let queue = connect_queue(settings).await?;
    let reader = connect_queue(settings).await?;
    let ledger = Ledger::new(&settings.postgres_url, &settings.ledger_pool())?;
    if !ledger.ping().await {
        return Err(StartupError::Ledger(ledger::LedgerError::Config(
            "postgres unreachable".into(),
        )));
    }
    let ctx = WorkerContext::new(
        settings.clone(),
        queue.clone(),
        ledger.clone(),
        metrics.clone(),
    );
    // The operations listener shares the worker's connections: its health check is theirs.
    let operations = serve_api(settings, queue, ledger, metrics, Surface::Operations).await?;
    let task = tokio::spawn(worker::run(ctx, reader, shutdown));
    Ok(RunningWorker { operations, task })
}
