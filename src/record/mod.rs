//! Fleet history: `shardtop record` appends what the model is given (every sample, feed round,
//! metrics reading and promotion) and what it concluded (events, anomalies, action steps) to an
//! SQLite file; `replay` reads it back. The format is in docs/recording.md.

pub mod codec;
pub mod codec3;
pub mod reader;
pub mod recorder;
pub mod store;
pub mod time;
pub mod typed;
pub mod wire;

pub use reader::{Recorded, Recording};
pub use recorder::{RecordOptions, Recorder};
pub use store::{EventRow, Store, StoreError, default_path};
