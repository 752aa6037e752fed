//! The request path of `POST /payments` without HTTP: parse the body, then the one Redis round
//! trip (dedupe + deadline + XADD), against a real `redis-server` started here.
//!
//! Run: `cargo bench --features bench --bench request_path` (redis-server from
//! `RINHA_REDIS_BIN` or PATH).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rinha::domain::PaymentRequest;
use rinha::queue::Queue;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> (Redis, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bin = std::env::var("RINHA_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
    let child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts (set RINHA_REDIS_BIN)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Redis(child), format!("redis://127.0.0.1:{port}"))
}

fn body(n: u64) -> Vec<u8> {
    format!(r#"{{"correlationId":"00000000-0000-4000-8000-{n:012x}","amount":19.90}}"#).into_bytes()
}

fn request_path(c: &mut Criterion) {
    let (_redis, url) = start_redis();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let queue = runtime
        .block_on(Queue::connect(&url, Duration::from_secs(2)))
        .expect("connect");
    let counter = AtomicU64::new(0);

    c.bench_function("parse", |b| {
        let body = body(1);
        b.iter(|| PaymentRequest::parse(std::hint::black_box(&body)).unwrap())
    });
    c.bench_function("parse+enqueue (new id)", |b| {
        b.to_async(&runtime).iter(|| async {
            let body = body(counter.fetch_add(1, Ordering::Relaxed));
            let payment = PaymentRequest::parse(&body).unwrap();
            queue.enqueue(&payment, 0).await.unwrap()
        })
    });
    c.bench_function("parse+enqueue (replay)", |b| {
        let body = body(0);
        b.to_async(&runtime).iter(|| async {
            let payment = PaymentRequest::parse(&body).unwrap();
            queue.enqueue(&payment, 0).await.unwrap()
        })
    });
}

criterion_group!(benches, request_path);
criterion_main!(benches);
