//! Free loopback TCP ports for test servers.
//!
//! The textbook trick (bind `127.0.0.1:0`, read the port, drop the listener) hands out ports
//! from the kernel's *ephemeral* range — the same range every outgoing connection draws its
//! local port from. Between dropping the listener and the server binding it, any client socket
//! in the test process (tokio-postgres, reqwest, …) may take that port. So we pick ports just
//! *below* the ephemeral range instead, where the kernel never assigns anything on its own.
//!
//! Collisions between tests are avoided in layers:
//! - threads of one test binary share an atomic cursor, so they never get the same port twice
//!   (a stopped server can be restarted on its port without anyone else having taken it);
//! - separate test processes start the cursor at a different pseudo-random offset;
//! - each candidate is bound once to check it is free right now;
//! - the servers' `start()` retries on a new port if the bind still loses a race.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port we hand out: above the registered ports our own stack uses (5432, 6379, 8001,
/// 8002, 9100, 9999) so a test never fights a running `make up`.
const LOWEST: u16 = 15_000;

/// A loopback TCP port that is free now and that no other caller in this process will get.
///
/// Panics only if the whole range is taken, which means something else is badly wrong.
pub fn free_port() -> u16 {
    let (low, span) = *range();
    let cursor = cursor();
    for _ in 0..span {
        let offset = cursor.fetch_add(1, Ordering::Relaxed) % span;
        let port = low + offset as u16;
        // std sets SO_REUSEADDR, so a port with connections in TIME_WAIT counts as free;
        // Redis and PostgreSQL set it too, so they can bind it as well.
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    // The range below the ephemeral ports is full or unusable: fall back to the kernel.
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback TCP port")
}

/// `[low, low + span)`: from `LOWEST` up to the start of the kernel's ephemeral range.
fn range() -> &'static (u16, u32) {
    static RANGE: OnceLock<(u16, u32)> = OnceLock::new();
    RANGE.get_or_init(|| {
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32_768);
        if ephemeral_low > LOWEST + 1_000 {
            (LOWEST, u32::from(ephemeral_low - LOWEST))
        } else {
            // Unusual sysctl: the ephemeral range starts low. Use the top of the port space,
            // which the default sysctl (…60999) leaves alone.
            (61_000, 4_000)
        }
    })
}

/// Process-wide cursor into the range, starting at an offset that differs between processes
/// so that test binaries run side by side (e.g. by cargo-nextest) probe different ports.
fn cursor() -> &'static AtomicU32 {
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    CURSOR.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Spread pids far apart: consecutive pids should not mean neighbouring ports.
        let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
        AtomicU32::new(seed % range().1)
    })
}
