//! An instance's say on becoming its shard's master, from the config
//! (`[[shard]] promotion = { "host:port" = "prefer" | "avoid" | "never" }`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Promotion {
    /// Never chosen, not even with `--to`.
    Never,
    /// Chosen only when no other replica can be.
    Avoid,
    #[default]
    Neutral,
    /// Chosen first; a preferred replica behind another catches up from it.
    Prefer,
}

impl Promotion {
    pub fn parse(s: &str) -> Option<Promotion> {
        match s {
            "prefer" => Some(Promotion::Prefer),
            "neutral" => Some(Promotion::Neutral),
            "avoid" => Some(Promotion::Avoid),
            "never" => Some(Promotion::Never),
            _ => None,
        }
    }
}
