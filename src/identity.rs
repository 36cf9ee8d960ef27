//! Who is who: user and group look-ups through the system's NSS (libc's
//! reentrant `getpwuid_r`/`getgrnam_r`/`getgrouplist`), used to turn the
//! credentials a socket or the bus vouches for into names and rights.

use std::ffi::{CStr, CString};

/// Runs one of libc's reentrant NSS look-ups (`getpwuid_r`, `getpwnam_r`,
/// `getgrnam_r`), growing the string buffer while it answers `ERANGE`, and
/// hands the filled record to `read` while its strings (which point into the
/// buffer) are still valid. `None` when the entry does not exist.
///
/// `T` must be a plain C record (`libc::passwd` or `libc::group`): it is
/// created zeroed.
fn nss_lookup<T, R>(
    lookup: impl Fn(&mut T, &mut [u8], &mut *mut T) -> libc::c_int,
    read: impl FnOnce(&T) -> Option<R>,
) -> Option<R> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd and group are plain data for which all-zero is a
        // valid value; the look-up fills them in.
        let mut record: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        let rc = lookup(&mut record, &mut buf, &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return read(&record);
    }
}

/// The user name of `uid`, or `None` when no such user exists.
pub fn user_name(uid: u32) -> Option<String> {
    nss_lookup(
        // SAFETY: every pointer is valid for the call; buf.len() is its size.
        |pwd: &mut libc::passwd, buf, result| unsafe {
            libc::getpwuid_r(uid, pwd, buf.as_mut_ptr().cast(), buf.len(), result)
        },
        |pwd| {
            if pwd.pw_name.is_null() {
                return None;
            }
            // SAFETY: pw_name is a NUL-terminated string inside the buffer,
            // which lives until nss_lookup returns.
            let name = unsafe { CStr::from_ptr(pwd.pw_name) };
            name.to_str().ok().map(str::to_string)
        },
    )
}

/// The primary group of user `name`, for `getgrouplist`.
fn primary_gid(name: &CStr) -> Option<u32> {
    nss_lookup(
        // SAFETY: as in `user_name`; `name` is NUL-terminated.
        |pwd: &mut libc::passwd, buf, result| unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                result,
            )
        },
        |pwd| Some(pwd.pw_gid),
    )
}

/// The gid of group `name`, or `None` when it does not exist.
pub fn group_id(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    nss_lookup(
        // SAFETY: as in `user_name`; `cname` is NUL-terminated.
        |grp: &mut libc::group, buf, result| unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                result,
            )
        },
        |grp| Some(grp.gr_gid),
    )
}

/// Whether `uid` is root or a member (primary or supplementary) of `gid`.
pub fn is_admin(uid: u32, admin_gid: Option<u32>) -> bool {
    if uid == 0 {
        return true;
    }
    let Some(admin_gid) = admin_gid else {
        return false;
    };
    let Some(name) = user_name(uid).and_then(|n| CString::new(n).ok()) else {
        return false;
    };
    let Some(primary) = primary_gid(&name) else {
        return false;
    };
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut count = groups.len() as libc::c_int;
        // SAFETY: `groups` has room for `count` entries; getgrouplist
        // writes at most that many and reports the real count.
        let rc =
            unsafe { libc::getgrouplist(name.as_ptr(), primary, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            return groups.contains(&admin_gid);
        }
        if groups.len() >= 65_536 {
            return false;
        }
        let wanted = (count.max(0) as usize).max(groups.len() * 2);
        groups.resize(wanted, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_known_and_admin() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(group_id("root"), Some(0));
        assert!(is_admin(0, None));
    }

    #[test]
    fn unknown_names_are_none() {
        assert_eq!(group_id("no-such-group-printspoold-test"), None);
        assert_eq!(group_id("bad\0name"), None);
        assert_eq!(user_name(4_000_000_000), None);
    }

    #[test]
    fn nobody_is_not_admin_of_root_group() {
        // nobody (65534) is not in group root (0) on Debian.
        assert!(!is_admin(65534, Some(0)));
    }
}
