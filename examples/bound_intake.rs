//! The intake bound's stand-in for one API instance (`make bench BOUND=intake`).
//!
//! The cheapest durable intake the architecture allows: salvo on the same single-threaded runtime
//! as `rinha api`, bound by the same code (`startup::serve_service`), and for each `POST /payments` one `XADD` of the raw body to Redis (the deployed
//! AOF settings) over one nodelay connection before the 202. No parsing, no dedupe, no deadline.
//! nginx in front of two of these, under the APIs' caps, measures what the hops nginx → API → Redis
//! cost by themselves, so our stack's overhead above it is what our own work adds.
//!
//! Usage: `bound_intake <listen: host:port | unix:/path> <redis url>`.

use redis::IntoConnectionInfo;
use rinha::config::ListenAddr;
use rinha::startup::serve_service;
use salvo::http::StatusCode;
use salvo::prelude::*;

const SUMMARY: &str = r#"{"default":{"totalRequests":0,"totalAmount":0.00},"fallback":{"totalRequests":0,"totalAmount":0.00}}"#;

struct Intake {
    redis: redis::aio::MultiplexedConnection,
}

#[async_trait]
impl Handler for Intake {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let path = req.uri().path().to_owned();
        let (status, body) = match (req.method().as_str(), path.as_str()) {
            ("POST", "/payments") => match req.payload_with_max_size(4096).await {
                Ok(body) => {
                    let mut conn = self.redis.clone();
                    let added: redis::RedisResult<String> = redis::cmd("XADD")
                        .arg("bound:payments")
                        .arg("*")
                        .arg("p")
                        .arg(body.as_ref())
                        .query_async(&mut conn)
                        .await;
                    match added {
                        Ok(_) => (StatusCode::ACCEPTED, ""),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"redis"}"#),
                    }
                }
                Err(_) => (StatusCode::BAD_REQUEST, r#"{"error":"body"}"#),
            },
            ("GET", "/payments-summary") => (StatusCode::OK, SUMMARY),
            ("POST", "/purge-payments") => (StatusCode::OK, r#"{"message":"purged"}"#),
            ("GET", "/healthz") => (StatusCode::OK, r#"{"status":"ok"}"#),
            _ => (StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#),
        };
        res.status_code(status);
        if !body.is_empty() {
            let _ = res.add_header("content-type", "application/json", true);
            let _ = res.write_body(body);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, redis_url] = args.as_slice() else {
        eprintln!("usage: bound_intake <listen: host:port | unix:/path> <redis url>");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let info = redis_url
            .as_str()
            .into_connection_info()
            .expect("redis url");
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let client = redis::Client::open(info.set_tcp_settings(tcp)).expect("redis client");
        let redis = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection");
        let service = Service::new(Router::new()).hoop(Intake { redis });
        let _server = serve_service(&ListenAddr::parse(listen), service)
            .await
            .expect("listen");
        // The server runs on its own task until the supervisor's SIGTERM ends the process.
        std::future::pending::<()>().await;
    });
}
