//! daemon(7) SysV step 13: dropping privileges to an unprivileged user.
//!
//! Under systemd this is `User=` in the unit (new-style recommendation 6:
//! rely on the init system's privilege dropping); this code is only for
//! `--daemon --user`. The order matters: supplementary groups, then the
//! group, then the user, because each call needs privileges that the later
//! ones take away. Afterwards we check that root cannot be regained.

use std::ffi::CString;
use std::io;

/// Longest buffer offered to getpwnam_r before giving up.
const MAX_PASSWD_BUFFER: usize = 1 << 20;

/// A user to run as, looked up in the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("user {user:?} does not exist")]
    UnknownUser { user: String },
    #[error("{user:?} is not a valid user name")]
    InvalidName { user: String },
    #[error("cannot look up user {user:?}: {source}")]
    Lookup { user: String, source: io::Error },
    #[error("cannot set the supplementary groups of {user:?}: {source}")]
    SetGroups { user: String, source: io::Error },
    #[error("cannot change group to {gid}: {source}")]
    SetGid { gid: libc::gid_t, source: io::Error },
    #[error("cannot change user to {uid}: {source}")]
    SetUid { uid: libc::uid_t, source: io::Error },
    #[error("privileges were not dropped: the process could become root again")]
    Regainable,
}

/// Looks `name` up with getpwnam_r, growing the buffer as it asks.
pub fn lookup_user(name: &str) -> Result<Account, PrivilegeError> {
    let c_name = CString::new(name).map_err(|_| PrivilegeError::InvalidName {
        user: name.to_owned(),
    })?;
    let mut size = initial_buffer_size();
    loop {
        let mut buffer: Vec<libc::c_char> = vec![0; size];
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and the buffer length
        // is the real one; getpwnam_r is the thread-safe variant.
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => {
                return Err(PrivilegeError::UnknownUser {
                    user: name.to_owned(),
                });
            }
            0 => {
                return Ok(Account {
                    name: name.to_owned(),
                    uid: entry.pw_uid,
                    gid: entry.pw_gid,
                });
            }
            libc::ERANGE if size < MAX_PASSWD_BUFFER => size *= 2,
            errno => {
                let source = io::Error::from_raw_os_error(errno);
                return Err(PrivilegeError::Lookup {
                    user: name.to_owned(),
                    source,
                });
            }
        }
    }
}

fn initial_buffer_size() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    match unsafe { libc::sysconf(libc::_SC_GETPW_R_SIZE_MAX) } {
        size if size > 0 => usize::try_from(size).unwrap_or(1024),
        _ => 1024,
    }
}

/// Becomes `account`: initgroups, setgid, setuid, then verifies that
/// setuid(0) fails. Nothing to do when we already are that user with that
/// group (say, `--user` naming the unprivileged caller itself).
pub fn drop_privileges(account: &Account) -> Result<(), PrivilegeError> {
    if already_running_as(account) {
        return Ok(());
    }
    let c_name = CString::new(account.name.as_str()).map_err(|_| PrivilegeError::InvalidName {
        user: account.name.clone(),
    })?;
    // SAFETY: a valid C string and a gid; initgroups sets the supplementary
    // groups from the group database.
    if unsafe { libc::initgroups(c_name.as_ptr(), account.gid) } == -1 {
        let source = io::Error::last_os_error();
        return Err(PrivilegeError::SetGroups {
            user: account.name.clone(),
            source,
        });
    }
    // SAFETY: setgid and setuid only change process credentials. As root
    // they set the real, effective and saved IDs together.
    if unsafe { libc::setgid(account.gid) } == -1 {
        let source = io::Error::last_os_error();
        return Err(PrivilegeError::SetGid {
            gid: account.gid,
            source,
        });
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(account.uid) } == -1 {
        let source = io::Error::last_os_error();
        return Err(PrivilegeError::SetUid {
            uid: account.uid,
            source,
        });
    }
    verify_dropped(account)
}

fn already_running_as(account: &Account) -> bool {
    // SAFETY: these getters cannot fail.
    unsafe {
        libc::getuid() == account.uid
            && libc::geteuid() == account.uid
            && libc::getgid() == account.gid
            && libc::getegid() == account.gid
    }
}

/// All IDs are the account's, and (unless the account is root itself)
/// setuid(0) is refused.
fn verify_dropped(account: &Account) -> Result<(), PrivilegeError> {
    if !already_running_as(account) {
        return Err(PrivilegeError::Regainable);
    }
    // SAFETY: if this succeeds we report an error and the daemon exits.
    if account.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(PrivilegeError::Regainable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found() {
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
    }

    #[test]
    fn unknown_and_invalid_names_are_errors() {
        let error = lookup_user("no-such-user-printspoold").unwrap_err();
        assert!(
            matches!(error, PrivilegeError::UnknownUser { .. }),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            "user \"no-such-user-printspoold\" does not exist"
        );
        let error = lookup_user("nul\0byte").unwrap_err();
        assert!(
            matches!(error, PrivilegeError::InvalidName { .. }),
            "{error}"
        );
    }

    #[test]
    fn becoming_ourselves_is_a_no_op() {
        // SAFETY: getters.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let me = Account {
            name: "whoever".into(),
            uid,
            gid,
        };
        drop_privileges(&me).unwrap();
    }
}
