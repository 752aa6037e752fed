//! Starting an emulator: the routes, [`serve`] for the binary and [`start`] for tests.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::server::ServerHandle;
use salvo::{Router, Server};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::admin::{PaymentsSummary, PurgePayments, SetConfiguration, SetToken};
use super::config::EmulatorConfig;
use super::handle::EmulatorHandle;
use super::health::ServiceHealth;
use super::payments::{GetPayment, PostPayment};
use super::state::ProcessorState;

/// How long in-flight requests may still finish after the binary is told to stop.
const GRACEFUL_STOP: Duration = Duration::from_secs(1);

/// The processor's routes, all sharing one state.
fn router(state: &Arc<ProcessorState>) -> Router {
    let shared = || Arc::clone(state);
    Router::new()
        .push(
            Router::with_path("payments")
                .post(PostPayment(shared()))
                // Listed before `{id}` so that it is not taken for a payment id.
                .push(Router::with_path("service-health").get(ServiceHealth(shared())))
                .push(Router::with_path("{id}").get(GetPayment(shared()))),
        )
        .push(
            Router::with_path("admin")
                .push(Router::with_path("payments-summary").get(PaymentsSummary(shared())))
                .push(Router::with_path("configurations/token").put(SetToken(shared())))
                .push(
                    Router::with_path("configurations/delay")
                        .put(SetConfiguration::delay(shared())),
                )
                .push(
                    Router::with_path("configurations/failure")
                        .put(SetConfiguration::failure(shared())),
                )
                .push(Router::with_path("purge-payments").post(PurgePayments(shared()))),
        )
}

/// A salvo server for `state` on `listener`, and the handle that stops it.
fn server(
    listener: TcpListener,
    state: &Arc<ProcessorState>,
) -> io::Result<(
    ServerHandle,
    impl Future<Output = io::Result<()>> + Send + 'static,
)> {
    let server = Server::new(TcpAcceptor::try_from(listener)?);
    let stop = server.handle();
    let routes = router(state);
    Ok((stop, server.try_serve(routes)))
}

/// Serves one emulated processor on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for up to a second. This is what the `payment-processor`
/// binary runs.
pub async fn serve(
    listener: TcpListener,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let state = Arc::new(ProcessorState::new(config));
    let (stop, serving) = server(listener, &state)?;
    tokio::spawn(async move {
        shutdown.await;
        stop.stop_graceful(GRACEFUL_STOP);
    });
    serving.await
}

/// Starts an emulated processor on a random port of 127.0.0.1, in the background.
///
/// For tests: the returned [`RunningEmulator`] gives its address and an [`EmulatorHandle`]
/// to inspect and script it, and stops it when shut down or dropped.
pub async fn start(config: EmulatorConfig) -> io::Result<RunningEmulator> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(ProcessorState::new(config));
    let (stop, serving) = server(listener, &state)?;
    Ok(RunningEmulator {
        addr,
        handle: EmulatorHandle::new(state),
        stop,
        task: tokio::spawn(serving),
    })
}

/// An emulator serving in the background (see [`start`]).
///
/// Dropping it stops the server at once, without waiting for in-flight requests.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    handle: EmulatorHandle,
    stop: ServerHandle,
    task: JoinHandle<io::Result<()>>,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The handle that inspects and scripts it (cheap to clone).
    pub fn handle(&self) -> &EmulatorHandle {
        &self.handle
    }

    /// Stops it at once (in-flight requests are cut) and waits until it has stopped.
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.stop.stop_forceful();
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(io::Error::other(join)),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        // Harmless after `shutdown`: the command channel is simply closed by then.
        self.stop.stop_forceful();
    }
}
