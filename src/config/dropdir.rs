//! `[dropdir]`: the drop directory where local users print by placing a
//! file (see [`crate::sources::dropdir`]).
//!
//! Until this release the section was called `[intake]`; that name is
//! still read, with a warning, for one more release (see
//! [`super::DeprecatedSection`]).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DropDirConfig {
    /// The drop directory; none means `incoming/` inside the spool directory.
    pub dir: Option<PathBuf>,
    /// Turn the drop directory off.
    pub disabled: bool,
}
