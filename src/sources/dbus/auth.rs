//! Who is calling, as the bus daemon vouches for it.
//!
//! The uid comes from `GetConnectionUnixUser` on the message's sender: the
//! bus took it from the kernel (`SO_PEERCRED`) when the client connected,
//! so no argument of the call can lie about it.

use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;

use super::errors::Error;
use crate::core::Requester;
use crate::identity;

/// Asks the bus about callers and turns their uid into a [`Requester`].
#[derive(Clone)]
pub struct Authority {
    bus: DBusProxy<'static>,
    admin_gid: Option<u32>,
}

impl Authority {
    pub fn new(bus: DBusProxy<'static>, admin_gid: Option<u32>) -> Authority {
        Authority { bus, admin_gid }
    }

    /// The requester behind the method call `header` belongs to.
    pub async fn requester(&self, header: &Header<'_>) -> Result<Requester, Error> {
        let uid = self.caller_uid(header).await?;
        let admin_gid = self.admin_gid;
        // NSS may ask a network directory: keep it off the async workers.
        tokio::task::spawn_blocking(move || requester_for_uid(uid, admin_gid))
            .await
            .map_err(|e| Error::Internal(format!("user look-up failed: {e}")))
    }

    async fn caller_uid(&self, header: &Header<'_>) -> Result<u32, Error> {
        let sender = header.sender().ok_or_else(|| {
            Error::Internal("the call carries no sender; cannot tell who asks".to_string())
        })?;
        let sender = BusName::Unique(sender.to_owned());
        self.bus
            .get_connection_unix_user(sender)
            .await
            .map_err(|e| {
                tracing::warn!("GetConnectionUnixUser failed: {e}");
                Error::NotPermitted("the bus could not say who is calling".to_string())
            })
    }
}

/// `uid`'s user name (or `uid<N>` when it has none) and whether it is root
/// or a member of the admin group.
pub fn requester_for_uid(uid: u32, admin_gid: Option<u32>) -> Requester {
    let user = identity::user_name(uid)
        .map(|name| crate::logging::sanitize(&name, 255))
        .unwrap_or_else(|| format!("uid{uid}"));
    // The bus took the uid from the kernel: a verified identity.
    Requester::verified(user, identity::is_admin(uid, admin_gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_an_admin_and_nobody_is_not() {
        let root = requester_for_uid(0, None);
        assert_eq!(root, Requester::verified("root", true));
        assert!(root.is_verified_admin());
        let nobody = requester_for_uid(65534, Some(0));
        assert_eq!(nobody.user, "nobody");
        assert!(!nobody.is_admin);
    }

    #[test]
    fn unknown_uid_gets_a_stable_name() {
        let ghost = requester_for_uid(3_999_999_999, None);
        assert_eq!(ghost.user, "uid3999999999");
        assert!(!ghost.is_admin);
    }
}
