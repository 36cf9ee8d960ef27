//! `[intake]`: the drop directory where local users print by placing a file.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// The drop directory; none means `incoming/` inside the spool directory.
    pub dir: Option<PathBuf>,
    /// Turn the drop directory off.
    pub disabled: bool,
}
