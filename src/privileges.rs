//! `--user`, `--group`, `--initgroups`: who the workers run as.
//!
//! Owns: turning user and group names (or numbers) into ids at start-up,
//! and switching a freshly forked worker to them before it loads the
//! application. The master keeps its own privileges, as in Gunicorn, so it
//! can bind, reopen log files and re-execute itself.
//!
//! Must never: leave a worker half-switched (any failure is an error the
//! worker exits on, never a warning), keep the master's supplementary
//! groups in a worker that changed user (Gunicorn does; we drop them, or
//! replace them with the user's own with `--initgroups`), or look anything
//! up after fork (names are resolved in the master).

use std::ffi::CString;

/// The identity workers take on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// `--initgroups`: the user's name, to load its supplementary groups.
    /// None without `--initgroups`, or when the uid has no passwd entry.
    pub initgroups: Option<CString>,
}

/// A numeric id, or a name looked up with `by_name` (`flag` and `what`
/// name the setting in errors).
fn lookup_id<T: std::str::FromStr>(
    name: &str,
    flag: &str,
    what: &str,
    by_name: impl FnOnce(&str) -> nix::Result<Option<T>>,
) -> Result<T, String> {
    let name = name.trim();
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name
            .parse()
            .map_err(|_| format!("argument {flag}: invalid {what} id: '{name}'"));
    }
    match by_name(name) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(format!("argument {flag}: no such {what}: '{name}'")),
        Err(e) => Err(format!("argument {flag}: cannot look up {name:?}: {e}")),
    }
}

fn lookup_user(name: &str) -> Result<libc::uid_t, String> {
    lookup_id(name, "-u/--user", "user", |n| {
        nix::unistd::User::from_name(n).map(|u| u.map(|u| u.uid.as_raw()))
    })
}

fn lookup_group(name: &str) -> Result<libc::gid_t, String> {
    lookup_id(name, "-g/--group", "group", |n| {
        nix::unistd::Group::from_name(n).map(|g| g.map(|g| g.gid.as_raw()))
    })
}

/// Resolves `--user`/`--group`. None when neither is given (workers stay
/// who the master is). As in Gunicorn, the one not given stays the
/// master's effective id: `-u www` alone keeps the master's group.
pub fn resolve(
    user: Option<&str>,
    group: Option<&str>,
    initgroups: bool,
) -> Result<Option<Owner>, String> {
    if user.is_none() && group.is_none() && !initgroups {
        return Ok(None);
    }
    // SAFETY: geteuid/getegid cannot fail.
    let uid = match user {
        Some(u) => lookup_user(u)?,
        None => unsafe { libc::geteuid() },
    };
    // SAFETY: as above.
    let gid = match group {
        Some(g) => lookup_group(g)?,
        None => unsafe { libc::getegid() },
    };
    let initgroups = if initgroups {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .and_then(|u| CString::new(u.name).ok())
    } else {
        None
    };
    Ok(Some(Owner {
        uid,
        gid,
        initgroups,
    }))
}

/// Switches this (worker) process to `owner`: supplementary groups, then
/// group, then user. Returns a one-line error.
pub fn drop_to(owner: &Owner) -> Result<(), String> {
    // SAFETY: getuid/getgid/geteuid cannot fail.
    let (uid, gid, euid) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid()) };
    let fail = |what: &str| {
        format!(
            "Cannot switch to uid {} gid {} ({what}): {}",
            owner.uid,
            owner.gid,
            std::io::Error::last_os_error()
        )
    };
    if euid == 0 && (owner.uid != uid || owner.gid != gid || owner.initgroups.is_some()) {
        let r = match &owner.initgroups {
            // SAFETY: a valid NUL-terminated user name and a group id.
            Some(name) => unsafe { libc::initgroups(name.as_ptr(), owner.gid) },
            // SAFETY: an empty list: no supplementary groups.
            None => unsafe { libc::setgroups(0, std::ptr::null()) },
        };
        if r != 0 {
            return Err(fail(if owner.initgroups.is_some() {
                "initgroups"
            } else {
                "setgroups"
            }));
        }
    }
    // SAFETY: setgid/setuid with plain ids; checked below.
    if owner.gid != gid && unsafe { libc::setgid(owner.gid) } != 0 {
        return Err(fail("setgid"));
    }
    // SAFETY: as above.
    if owner.uid != uid && unsafe { libc::setuid(owner.uid) } != 0 {
        return Err(fail("setuid"));
    }
    Ok(())
}

/// Gives a file the server created (a log file) to `owner`, as Gunicorn
/// does, so workers running as that user can reopen it after USR1.
pub fn chown_path(path: &str, owner: &Owner) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid)).map_err(|e| {
        format!(
            "cannot give {path:?} to uid {} gid {}: {e}",
            owner.uid, owner.gid
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(lookup_user("0"), Ok(0));
        assert_eq!(lookup_user(" 65534 "), Ok(65534));
        assert_eq!(lookup_user("root"), Ok(0));
        assert!(lookup_user("no-such-user-ferricorn").is_err());
        assert_eq!(lookup_group("0"), Ok(0));
        assert!(lookup_group("no-such-group-ferricorn").is_err());
        assert_eq!(resolve(None, None, false), Ok(None));
        let o = resolve(Some("0"), Some("0"), true)
            .expect("resolve")
            .expect("owner");
        assert_eq!((o.uid, o.gid), (0, 0));
        assert_eq!(o.initgroups.as_deref(), Some(c"root"));
    }
}
