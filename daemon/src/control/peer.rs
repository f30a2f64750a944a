//! Who is on the other end of a control connection, and may they administer wekad.
//!
//! The peer's credentials come from the kernel (`SO_PEERCRED`), never from the request.
//! Allowed: uid 0, or a process whose primary or supplementary groups include the admin
//! group. Supplementary groups are read from `/proc/<pid>/status` (the groups the process
//! really has), falling back to the group database (`getgrouplist`) for the peer's user.

use nix::unistd::{Gid, Group, Uid, User};

/// The kernel-reported identity of a connected peer.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl Peer {
    /// Reads the peer credentials of a connected unix stream.
    pub fn of(stream: &tokio::net::UnixStream) -> std::io::Result<Peer> {
        let cred = stream.peer_cred()?;
        Ok(Peer {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        })
    }

    /// True when the peer may use the control socket.
    pub fn is_admin(&self, admin_gid: Option<u32>) -> bool {
        if self.uid == 0 {
            return true;
        }
        let Some(admin) = admin_gid else { return false };
        self.gid == admin || self.supplementary_groups().contains(&admin)
    }

    fn supplementary_groups(&self) -> Vec<u32> {
        if let Some(groups) = self.pid.and_then(proc_groups) {
            return groups;
        }
        user_groups(self.uid, self.gid)
    }
}

/// The `Groups:` line of `/proc/<pid>/status`.
fn proc_groups(pid: i32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    Some(
        line.split_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect(),
    )
}

/// The groups of the user `uid` in the group database.
fn user_groups(uid: u32, gid: u32) -> Vec<u32> {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return Vec::new();
    };
    nix::unistd::getgrouplist(&name, Gid::from_raw(gid))
        .map(|gs| gs.into_iter().map(Gid::as_raw).collect())
        .unwrap_or_default()
}

/// Resolves the admin group's name to its gid; `None` when the group does not exist.
pub fn group_gid(name: &str) -> Option<u32> {
    Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_always_admin_and_others_need_the_group() {
        let root = Peer {
            uid: 0,
            gid: 0,
            pid: None,
        };
        assert!(root.is_admin(None));
        let nobody = Peer {
            uid: 65534,
            gid: 65534,
            pid: None,
        };
        assert!(!nobody.is_admin(None));
        assert!(nobody.is_admin(Some(65534)), "primary group counts");
        assert!(!nobody.is_admin(Some(4242)));
    }

    #[test]
    fn supplementary_groups_are_read_from_proc() {
        let me = std::process::id() as i32;
        assert!(proc_groups(me).is_some());
    }
}
