//! Who the test servers run as.
//!
//! `initdb` and `postgres` refuse to run as root, and CI and fresh machines run the tests as
//! root. So when we are root, PostgreSQL runs as an unprivileged user (`nobody`, or the user
//! named by `RINHA_PG_USER`), which must be able to reach its binaries and its data directory.
//! When we are not root, servers simply run as the current user.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The uid/gid a server process is started with, when it must differ from ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerUser {
    /// Numeric user id (`nobody` is 65534 on Debian).
    pub uid: u32,
    /// Numeric primary group id; supplementary groups are dropped.
    pub gid: u32,
}

impl ServerUser {
    /// `Some(user)` when we run as root and servers must drop to `user`; `None` when servers
    /// can run as the current (unprivileged) user.
    ///
    /// The user is `RINHA_PG_USER` (a name or a numeric uid) if set, else `nobody`; ids are
    /// resolved with `id(1)` so NSS sources other than /etc/passwd work too.
    pub fn for_servers() -> Option<ServerUser> {
        if !running_as_root() {
            return None;
        }
        let name = std::env::var("RINHA_PG_USER").unwrap_or_else(|_| "nobody".to_owned());
        let uid = id_of(&name, "-u");
        let gid = id_of(&name, "-g");
        match (uid, gid) {
            (Some(uid), Some(gid)) => Some(ServerUser { uid, gid }),
            _ if name == "nobody" => Some(ServerUser {
                uid: 65_534,
                gid: 65_534,
            }),
            _ => panic!("RINHA_PG_USER={name:?}: no such user (`id {name}` failed)"),
        }
    }

    /// Whether this user may search (`x`) the directory or execute the file at `meta`.
    ///
    /// Plain mode bits only: supplementary groups and ACLs are ignored, which can only make
    /// the check stricter than the kernel, never laxer, for a user like `nobody`.
    fn may_search(&self, meta: &std::fs::Metadata) -> bool {
        let mode = meta.mode();
        if self.uid == 0 {
            true
        } else if meta.uid() == self.uid {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }
}

/// Whether the effective uid is 0. Read from `/proc/self/status` (Linux, like the rest of the
/// stack) to avoid a libc dependency for one syscall.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // "Uid: real effective saved fs"
            line.split_whitespace().nth(2)?.parse::<u32>().ok()
        })
        .is_some_and(|euid| euid == 0)
}

fn id_of(name: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").arg(flag).arg(name).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// Checks that the unprivileged server user can reach `path`: every directory from `/` down to
/// `path` (inclusive, if it is a directory) must be searchable by it.
///
/// Returns `Ok(())` when servers run as the current user anyway (we are not root). The error
/// names the first directory that blocks and what to do about it, because the typical cause —
/// a checkout or `target/` under a 0700 `/root` — is otherwise a baffling "Permission denied"
/// from inside `initdb`.
pub fn ensure_unprivileged_can_reach(path: &Path) -> Result<(), String> {
    let Some(user) = ServerUser::for_servers() else {
        return Ok(());
    };
    let path = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut dirs: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    dirs.reverse();
    for dir in dirs {
        let meta = std::fs::metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if meta.is_dir() && !user.may_search(&meta) {
            return Err(format!(
                "{} is not reachable by the unprivileged server user (uid {}, gid {}): \
                 {} has mode {:o}, owner {}. PostgreSQL must run unprivileged when tests run \
                 as root. Put the PostgreSQL binaries and TMPDIR somewhere world-traversable \
                 (tests/tools/install-deps.sh copies them to /var/tmp/rinha-tools and sets \
                 RINHA_PG_BINDIR), or name another user in RINHA_PG_USER.",
                path.display(),
                user.uid,
                user.gid,
                dir.display(),
                meta.mode() & 0o7777,
                meta.uid(),
            ));
        }
    }
    Ok(())
}
