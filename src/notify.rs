//! systemd readiness notification (`sd_notify`), written by hand: one datagram.

use std::os::unix::net::UnixDatagram;

/// Sends `READY=1` to `NOTIFY_SOCKET` when systemd asked for it; a no-op otherwise.
pub fn ready(notify_socket: Option<&str>) {
    let Some(path) = notify_socket else { return };
    if let Err(err) = send(path, "READY=1") {
        tracing::warn!(%err, "sd_notify READY=1 failed");
    }
}

fn send(path: &str, message: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        socket.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        socket.send_to(message.as_bytes(), path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        ready(Some(path.to_str().unwrap()));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
