//! A seek's samples rebuilt without a JSON tree each: the reader keeps each instance's last
//! `Sample` and sets only the fields whose recorded values changed since it.
//!
//! A seek feeds the model a minute of samples, 30,000 at 1,000 instances every 2 s. Between two
//! samples of a server a few values move (its counters, binlog position, GTID sets, lag, the
//! probe's duration); rebuilding the whole tree and deserialising `InstanceStatus` from it for
//! each cost more than half of a seek. Here each changed key is matched once per chain to the
//! field it fills, and set from its value with serde's own rules for that field's type. Any key
//! not in the table, a path that came or went, a value of a type the field would not take, or
//! an instance's first sample takes the whole way (`wire::sample_from`), so what comes out is
//! always what the tree would have given (`typed_tests` checks both ways agree).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::codec::unflatten;
use super::codec3::SampleView;
use super::wire::{self, from_ms};
use crate::fleet::status::{Counters, GtidState, InstanceStatus, IoState, ReplicationStatus, Sample};

/// What one recorded key sets.
#[derive(Clone, Copy, Debug)]
enum Field {
    /// Not matched yet (a key seen for the first time in this chain).
    Unresolved,
    /// No field here sets it: the tree decides.
    Other,
    /// Version 4's probe duration code.
    ElapsedCode,
    /// Versions 1–3's probe duration in 10 µs.
    Elapsed10us,
    Status(StatusField),
    Repl(usize, ReplField),
}

#[derive(Clone, Copy, Debug)]
enum StatusField {
    Version,
    ServerId,
    ReadOnly,
    SuperReadOnly,
    BinlogFile,
    BinlogPos,
    Gtid(fn(&mut GtidState) -> &mut Option<String>),
    Counter(fn(&mut Counters) -> &mut u64),
    HeartbeatLag,
    HeartbeatError,
    GtidBinlogState,
    ActionLock,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ReplField {
    IoState,
    SqlRunning,
    SecondsBehind,
    LastIoErrno,
    LastIoError,
    LastSqlErrno,
    LastSqlError,
    SourceLogFile,
    ReadSourceLogPos,
    RelaySourceLogFile,
    ExecSourceLogPos,
    RetrievedGtidSet,
    ExecutedGtidSet,
    SqlDelay,
}

fn resolve(key: &str) -> Field {
    use StatusField as S;
    match key {
        "p" => return Field::ElapsedCode,
        "e" => return Field::Elapsed10us,
        _ => {}
    }
    let Some(rest) = key.strip_prefix("ok/") else { return Field::Other };
    let status = match rest {
        "version" => S::Version,
        "server_id" => S::ServerId,
        "read_only" => S::ReadOnly,
        "super_read_only" => S::SuperReadOnly,
        "binlog_file" => S::BinlogFile,
        "binlog_pos" => S::BinlogPos,
        "gtid/binlog_pos" => S::Gtid(|g| &mut g.binlog_pos),
        "gtid/current_pos" => S::Gtid(|g| &mut g.current_pos),
        "gtid/slave_pos" => S::Gtid(|g| &mut g.slave_pos),
        "gtid/executed" => S::Gtid(|g| &mut g.executed),
        "counters/uptime" => S::Counter(|c| &mut c.uptime),
        "counters/questions" => S::Counter(|c| &mut c.questions),
        "counters/com_select" => S::Counter(|c| &mut c.com_select),
        "counters/com_insert" => S::Counter(|c| &mut c.com_insert),
        "counters/com_update" => S::Counter(|c| &mut c.com_update),
        "counters/com_delete" => S::Counter(|c| &mut c.com_delete),
        "counters/com_replace" => S::Counter(|c| &mut c.com_replace),
        "counters/threads_running" => S::Counter(|c| &mut c.threads_running),
        "counters/threads_connected" => S::Counter(|c| &mut c.threads_connected),
        "heartbeat_lag" => S::HeartbeatLag,
        "heartbeat_error" => S::HeartbeatError,
        "topo/gtid_binlog_state" => S::GtidBinlogState,
        "topo/action_lock" => S::ActionLock,
        _ => return replication(rest).unwrap_or(Field::Other),
    };
    Field::Status(status)
}

/// `replication/#N/field`.
fn replication(rest: &str) -> Option<Field> {
    use ReplField as R;
    let (index, field) = rest.strip_prefix("replication/#")?.split_once('/')?;
    let index: usize = index.parse().ok()?;
    let field = match field {
        "io_state" => R::IoState,
        "sql_running" => R::SqlRunning,
        "seconds_behind" => R::SecondsBehind,
        "last_io_errno" => R::LastIoErrno,
        "last_io_error" => R::LastIoError,
        "last_sql_errno" => R::LastSqlErrno,
        "last_sql_error" => R::LastSqlError,
        "source_log_file" => R::SourceLogFile,
        "read_source_log_pos" => R::ReadSourceLogPos,
        "relay_source_log_file" => R::RelaySourceLogFile,
        "exec_source_log_pos" => R::ExecSourceLogPos,
        "retrieved_gtid_set" => R::RetrievedGtidSet,
        "executed_gtid_set" => R::ExecutedGtidSet,
        "sql_delay" => R::SqlDelay,
        _ => return None,
    };
    Some(Field::Repl(index, field))
}

/// The JSON a field takes, as serde would take it for the field's type.
#[derive(Clone, Copy)]
enum Kind {
    U64,
    U32,
    Bool,
    Str,
    Io,
    /// `Option<T>`: null is `None`.
    Opt(Inner),
}

#[derive(Clone, Copy)]
enum Inner {
    U64,
    Bool,
    Str,
    F64,
}

fn kind(field: Field) -> Option<Kind> {
    use {Inner as I, Kind as K, ReplField as R, StatusField as S};
    Some(match field {
        Field::Unresolved | Field::Other => return None,
        Field::ElapsedCode | Field::Elapsed10us => K::U64,
        Field::Status(f) => match f {
            S::Version => K::Str,
            S::ServerId => K::U32,
            S::ReadOnly => K::Bool,
            S::SuperReadOnly => K::Opt(I::Bool),
            S::BinlogFile | S::Gtid(_) | S::HeartbeatError | S::GtidBinlogState => K::Opt(I::Str),
            S::BinlogPos | S::ActionLock => K::Opt(I::U64),
            S::Counter(_) => K::U64,
            S::HeartbeatLag => K::Opt(I::F64),
        },
        Field::Repl(_, f) => match f {
            R::IoState => K::Io,
            R::SqlRunning => K::Bool,
            R::SecondsBehind => K::Opt(I::U64),
            R::LastIoErrno | R::LastSqlErrno => K::U32,
            R::LastIoError
            | R::LastSqlError
            | R::SourceLogFile
            | R::RelaySourceLogFile
            | R::RetrievedGtidSet
            | R::ExecutedGtidSet => K::Str,
            R::ReadSourceLogPos | R::ExecSourceLogPos | R::SqlDelay => K::U64,
        },
    })
}

fn io_state_of(v: &Value) -> Option<IoState> {
    match v.as_str()? {
        "running" => Some(IoState::Running),
        "connecting" => Some(IoState::Connecting),
        "stopped" => Some(IoState::Stopped),
        _ => None,
    }
}

/// `v` is what serde would take for a field of kind `k`.
fn fits(k: Kind, v: &Value) -> bool {
    let inner = |i: Inner| match i {
        Inner::U64 => v.is_u64(),
        Inner::Bool => v.is_boolean(),
        Inner::Str => v.is_string(),
        Inner::F64 => v.is_number(),
    };
    match k {
        Kind::U64 => inner(Inner::U64),
        Kind::U32 => v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        Kind::Bool => inner(Inner::Bool),
        Kind::Str => inner(Inner::Str),
        Kind::Io => io_state_of(v).is_some(),
        Kind::Opt(i) => v.is_null() || inner(i),
    }
}

// The setters take a value that `fits` its field (anything else is `None`, never a guess).

fn u64_of(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn u32_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn string_of(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// `Option<T>`: null is `None`.
fn opt<T>(v: Value, f: impl FnOnce(Value) -> Option<T>) -> Option<Option<T>> {
    if v.is_null() { Some(None) } else { f(v).map(Some) }
}

fn set<T>(slot: &mut T, value: Option<T>) -> Option<()> {
    *slot = value?;
    Some(())
}

fn set_status(s: &mut InstanceStatus, f: StatusField, v: Value) -> Option<()> {
    use StatusField as S;
    match f {
        S::Version => set(&mut s.version, string_of(v)),
        S::ServerId => set(&mut s.server_id, u32_of(&v)),
        S::ReadOnly => set(&mut s.read_only, v.as_bool()),
        S::SuperReadOnly => set(&mut s.super_read_only, opt(v, |v| v.as_bool())),
        S::BinlogFile => set(&mut s.binlog_file, opt(v, string_of)),
        S::BinlogPos => set(&mut s.binlog_pos, opt(v, |v| u64_of(&v))),
        S::Gtid(field) => set(field(&mut s.gtid), opt(v, string_of)),
        S::Counter(field) => set(field(&mut s.counters), u64_of(&v)),
        S::HeartbeatLag => set(&mut s.heartbeat_lag, opt(v, |v| v.as_f64())),
        S::HeartbeatError => set(&mut s.heartbeat_error, opt(v, string_of)),
        S::GtidBinlogState => set(&mut s.topo.gtid_binlog_state, opt(v, string_of)),
        S::ActionLock => set(&mut s.topo.action_lock, opt(v, |v| u64_of(&v))),
    }
}

fn set_repl(r: &mut ReplicationStatus, f: ReplField, v: Value) -> Option<()> {
    use ReplField as R;
    match f {
        R::IoState => set(&mut r.io_state, io_state_of(&v)),
        R::SqlRunning => set(&mut r.sql_running, v.as_bool()),
        R::SecondsBehind => set(&mut r.seconds_behind, opt(v, |v| u64_of(&v))),
        R::LastIoErrno => set(&mut r.last_io_errno, u32_of(&v)),
        R::LastIoError => set(&mut r.last_io_error, string_of(v)),
        R::LastSqlErrno => set(&mut r.last_sql_errno, u32_of(&v)),
        R::LastSqlError => set(&mut r.last_sql_error, string_of(v)),
        R::SourceLogFile => set(&mut r.source_log_file, string_of(v)),
        R::ReadSourceLogPos => set(&mut r.read_source_log_pos, u64_of(&v)),
        R::RelaySourceLogFile => set(&mut r.relay_source_log_file, string_of(v)),
        R::ExecSourceLogPos => set(&mut r.exec_source_log_pos, u64_of(&v)),
        R::RetrievedGtidSet => set(&mut r.retrieved_gtid_set, string_of(v)),
        R::ExecutedGtidSet => set(&mut r.executed_gtid_set, string_of(v)),
        R::SqlDelay => set(&mut r.sql_delay, u64_of(&v)),
    }
}

/// Set `field` of `s` to `v`; `None` when it cannot be done (not a field here, a value that
/// does not fit, a status `s` does not have).
fn apply(s: &mut Sample, field: Field, v: Value) -> Option<()> {
    match field {
        Field::Unresolved | Field::Other => None,
        Field::ElapsedCode => {
            s.elapsed = wire::elapsed_from_code(u64_of(&v)?);
            Some(())
        }
        Field::Elapsed10us => {
            s.elapsed = Duration::from_micros(u64_of(&v)?.saturating_mul(wire::ELAPSED_UNIT_US));
            Some(())
        }
        Field::Status(f) => set_status(s.result.as_mut().ok()?, f, v),
        Field::Repl(i, f) => set_repl(s.result.as_mut().ok()?.replication.get_mut(i)?, f, v),
    }
}

/// A sample as the decoding side hands it on: whole (its instance's first, or one whose shape
/// changed, or with a key no field here sets), or the fields that changed since its instance's
/// last one, each with a value that fits it. `Samples` turns it into the `Sample` (a whole one
/// from its keys and values: the tree and serde run there, not on the decoding thread).
#[derive(Debug)]
pub enum Part {
    Whole { at_ms: i64, pairs: Vec<(Arc<str>, Value)> },
    Changed { at_ms: i64, fields: Vec<(FieldRef, Value)> },
}

/// A field a recorded key sets (opaque outside this module).
#[derive(Clone, Copy, Debug)]
pub struct FieldRef(Field);

/// The decoding side: what each key of the decoder's chain sets.
#[derive(Default)]
pub struct Fields {
    /// The decoder's chain the key table below is of.
    chain: u64,
    /// What each key id of that chain sets.
    fields: Vec<Field>,
}

impl Fields {
    /// The sample `v` stands for, as a `Part`.
    pub fn part(&mut self, v: &mut SampleView<'_>) -> Result<Part, String> {
        if v.chain != self.chain {
            self.chain = v.chain;
            self.fields.clear();
        }
        if let Some(touched) = v.touched() {
            let mut changed = Vec::with_capacity(touched.len());
            let all = touched.iter().all(|&id| {
                if self.fields.len() <= id {
                    self.fields.resize(id + 1, Field::Unresolved);
                }
                if matches!(self.fields[id], Field::Unresolved) {
                    self.fields[id] = v.key(id).map_or(Field::Other, resolve);
                }
                let field = self.fields[id];
                match (kind(field), v.value(id)) {
                    (Some(k), Some(value)) if fits(k, value) => {
                        changed.push((FieldRef(field), value.clone()));
                        true
                    }
                    _ => false,
                }
            });
            if all {
                return Ok(Part::Changed { at_ms: v.at_ms, fields: changed });
            }
        }
        Ok(Part::Whole { at_ms: v.at_ms, pairs: v.pairs() })
    }
}

/// The side that keeps each instance's last sample and brings it forward by a `Part`.
#[derive(Default)]
pub struct Samples {
    last: HashMap<(u32, u32), Sample>,
}

impl Samples {
    /// The sample of instance `key` that `part` stands for.
    pub fn sample(&mut self, key: (u32, u32), part: Part) -> Result<Sample, String> {
        match part {
            Part::Whole { at_ms, pairs } => {
                let tree = unflatten(pairs.iter().map(|(k, v)| (&**k, v))).map_err(|e| e.0)?;
                let s = wire::sample_from(at_ms, &tree)?;
                self.last.insert(key, s.clone());
                Ok(s)
            }
            Part::Changed { at_ms, fields } => {
                let missing = || format!("shard {} instance {}: a change to a sample it does not have", key.0, key.1);
                let prev = self.last.get_mut(&key).ok_or_else(missing)?;
                prev.at = from_ms(at_ms);
                for (FieldRef(field), value) in fields {
                    apply(prev, field, value).ok_or_else(missing)?;
                }
                Ok(prev.clone())
            }
        }
    }
}

#[cfg(test)]
#[path = "typed_tests.rs"]
mod tests;
