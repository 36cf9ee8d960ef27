//! Who may do what to a job, and who may see what of it.
//!
//! Identities come in two strengths ([`Assurance`]): verified (the kernel
//! or the bus vouched for the uid) and claimed (a name a TCP client typed).
//! The rules:
//!
//! - a verified administrator (root or the admin group, over the Unix
//!   socket or D-Bus) may act on any job and on printers;
//! - a verified user acts on the jobs owned by that name, whichever way
//!   they were submitted: the local user X is at least as sure to be X as
//!   any network client claiming to be X;
//! - a claimed name acts only on jobs submitted under the same claimed
//!   name, never on a job whose owner was verified. A TCP request as
//!   "root" cannot touch root's Unix-socket, D-Bus or drop-directory job.
//!
//! Seeing follows acting: whoever may act on a job sees it whole; everyone
//! else sees it without its private values ([`JobPrivateValues`], after
//! CUPS's `JobPrivateValues`).

use super::error::CoreError;
use super::job::{Assurance, Job};
use crate::config::JobPrivateValues;

/// Who asks. The entry path establishes this from what it can trust (bus
/// credentials, socket peer credentials, file ownership) or, over TCP,
/// from what the client claims; the core enforces the rules above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub user: String,
    /// How `user` was established.
    pub identity: Assurance,
    /// Root or a member of the admin group. Counts only when verified
    /// (see [`Requester::is_verified_admin`]).
    pub is_admin: bool,
}

impl Requester {
    /// A user the kernel or the bus vouched for.
    pub fn verified(user: impl Into<String>, is_admin: bool) -> Requester {
        Requester {
            user: user.into(),
            identity: Assurance::Verified,
            is_admin,
        }
    }

    /// A name a network client gave; never an administrator.
    pub fn claimed(user: impl Into<String>) -> Requester {
        Requester {
            user: user.into(),
            identity: Assurance::Claimed,
            is_admin: false,
        }
    }

    /// Root or the admin group, proven by the kernel or the bus.
    pub fn is_verified_admin(&self) -> bool {
        self.is_admin && self.identity == Assurance::Verified
    }

    /// Whether this requester may cancel, hold, release or add a document
    /// to `job` (see the module documentation).
    pub fn may_act_on(&self, job: &Job) -> bool {
        if self.is_verified_admin() {
            return true;
        }
        self.user == job.owner
            && (self.identity == Assurance::Verified || job.identity == Assurance::Claimed)
    }

    /// [`Requester::may_act_on`] with a refusal that says why: `action`
    /// completes "may not ... job N".
    pub fn authorize(&self, job: &Job, action: &'static str) -> Result<(), CoreError> {
        if self.may_act_on(job) {
            return Ok(());
        }
        let (user, id) = (self.user.clone(), job.id);
        if self.claims_verified_owner(job) {
            Err(CoreError::ClaimNotVerified { user, action, id })
        } else {
            Err(CoreError::NotPermitted { user, action, id })
        }
    }

    /// True when `job` carries this requester's name but was submitted by
    /// a verified user while this name is only claimed: the refusal then
    /// says how to get the right (ask over the Unix socket or D-Bus).
    fn claims_verified_owner(&self, job: &Job) -> bool {
        self.user == job.owner
            && self.identity == Assurance::Claimed
            && job.identity == Assurance::Verified
    }

    /// What of `job` this requester may see under `private`.
    pub fn disclosure(&self, job: &Job, private: &JobPrivateValues) -> Disclosure {
        if self.may_act_on(job) {
            return Disclosure::WHOLE;
        }
        Disclosure {
            name: !private.job_name,
            owner: !private.user_name,
        }
    }
}

/// Which private values of one job a requester sees. Everything else
/// about a job (id, state, size, times) is public, as in CUPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disclosure {
    /// `job-name` (D-Bus `name`).
    pub name: bool,
    /// `job-originating-user-name` (D-Bus `owner`).
    pub owner: bool,
}

impl Disclosure {
    /// The owner's and an administrator's view.
    pub const WHOLE: Disclosure = Disclosure {
        name: true,
        owner: true,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(owner: &str, identity: Assurance) -> Job {
        Job {
            owner: owner.into(),
            name: "secret.pdf".into(),
            identity,
            ..crate::test_support::job()
        }
    }

    #[test]
    fn a_claimed_name_never_acts_on_a_verified_job() {
        let verified_root_job = job("root", Assurance::Verified);
        let claimed_root = Requester::claimed("root");
        assert!(!claimed_root.may_act_on(&verified_root_job));
        assert!(matches!(
            claimed_root.authorize(&verified_root_job, "cancel"),
            Err(CoreError::ClaimNotVerified { .. })
        ));
        // Even a claimed requester marked admin by mistake is not one.
        let forged = Requester {
            is_admin: true,
            ..Requester::claimed("root")
        };
        assert!(!forged.is_verified_admin());
        assert!(!forged.may_act_on(&verified_root_job));
    }

    #[test]
    fn claimed_names_act_on_claimed_jobs_of_the_same_name() {
        let claimed_job = job("alice", Assurance::Claimed);
        assert!(Requester::claimed("alice").may_act_on(&claimed_job));
        assert!(!Requester::claimed("bob").may_act_on(&claimed_job));
        assert!(matches!(
            Requester::claimed("bob").authorize(&claimed_job, "cancel"),
            Err(CoreError::NotPermitted { .. })
        ));
    }

    #[test]
    fn verified_users_act_on_their_jobs_of_either_kind_and_admins_on_all() {
        let alice = Requester::verified("alice", false);
        assert!(alice.may_act_on(&job("alice", Assurance::Verified)));
        assert!(alice.may_act_on(&job("alice", Assurance::Claimed)));
        assert!(!alice.may_act_on(&job("bob", Assurance::Verified)));
        let admin = Requester::verified("root", true);
        assert!(admin.may_act_on(&job("bob", Assurance::Verified)));
        assert!(admin.may_act_on(&job("bob", Assurance::Claimed)));
    }

    #[test]
    fn private_values_are_hidden_from_all_but_owner_and_admin() {
        let bobs = job("bob", Assurance::Verified);
        let private = JobPrivateValues::DEFAULT;
        assert_eq!(
            Requester::verified("bob", false).disclosure(&bobs, &private),
            Disclosure::WHOLE
        );
        assert_eq!(
            Requester::verified("root", true).disclosure(&bobs, &private),
            Disclosure::WHOLE
        );
        let hidden = Disclosure {
            name: false,
            owner: false,
        };
        assert_eq!(
            Requester::verified("alice", false).disclosure(&bobs, &private),
            hidden
        );
        // A claim of bob's name does not reveal a verified bob's job.
        assert_eq!(
            Requester::claimed("bob").disclosure(&bobs, &private),
            hidden
        );
        assert_eq!(
            Requester::claimed("eve").disclosure(&bobs, &JobPrivateValues::NONE),
            Disclosure::WHOLE
        );
    }

    #[test]
    fn records_without_the_field_load_as_verified() {
        let mut value = serde_json::to_value(job("root", Assurance::Claimed)).unwrap();
        value.as_object_mut().unwrap().remove("identity");
        let old: Job = serde_json::from_value(value).unwrap();
        assert_eq!(old.identity, Assurance::Verified);
        assert!(!Requester::claimed("root").may_act_on(&old));
    }
}
