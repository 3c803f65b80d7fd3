//! The action dialog's state: plan first, typed confirmation, live steps,
//! outcome. Pure: the event loop runs the action and feeds its progress in
//! as messages; keys come in as messages too; effects go out as values.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::actions::checksum::Event as ChecksumEvent;
use crate::actions::{Check, PlannedStep, Progress};
use crate::fleet::Addr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Promote {
        shard: usize,
        candidate: Addr,
    },
    /// The master is down: a replica takes over. `candidate`: the replica the operator selected
    /// (`None`: shardtop chooses); `replicas` and `seen`: what this session knows and the CLI
    /// would not (discovered replicas, the master's failed probes and last position).
    Failover {
        shard: usize,
        candidate: Option<Addr>,
        replicas: Vec<Addr>,
        seen: crate::actions::failover::Seen,
    },
    /// Make a server read-only: a former master back writable after a failover (a zombie).
    Fence {
        shard: usize,
        instance: Addr,
    },
    /// A former master back as a replica of the shard's master now (fenced first), when its
    /// history is a prefix of the master's (`actions::rejoin`).
    Rejoin {
        shard: usize,
        instance: Addr,
    },
    Checksum {
        shard: usize,
    },
}

/// The failover shard `s` needs when its master is down (suspect, unreachable or dead); `None`
/// while its master is up. `candidate`: the replica the operator chose (`None`: shardtop
/// chooses). What the model knows and the CLI would not goes with it: the shard's replicas
/// (discovered ones too) and the master's failed probes, last position and semi-sync.
pub fn failover_of(sh: &crate::fleet::Shard, s: usize, candidate: Option<Addr>) -> Option<ActionKind> {
    use crate::fleet::death::MasterState;
    if matches!(sh.master_state, None | Some(MasterState::Up)) {
        return None;
    }
    let master = sh.master();
    let last = master.status.as_ref();
    let seen = crate::actions::failover::Seen {
        failures: master.failures,
        last_gtid: last.and_then(|st| match st.flavor {
            crate::fleet::status::Flavor::MariaDb => st.gtid.binlog_pos.clone(),
            crate::fleet::status::Flavor::MySql => st.gtid.executed.clone(),
        }),
        semi_sync: last
            .and_then(|st| st.semi_sync.as_ref())
            .and_then(|ss| ss.master.as_ref())
            .is_some_and(|m| m.protects_acknowledged_writes()),
    };
    let replicas = sh.replicas().iter().filter(|i| !i.gone).map(|i| i.addr.clone()).collect();
    Some(ActionKind::Failover { shard: s, candidate, replicas, seen })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    Running,
    Done,
    Failed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepLine {
    pub name: String,
    pub state: StepState,
    pub took: Option<Duration>,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Reading the shard and checking (a dry run).
    Planning,
    /// The plan is shown; the operator types the shard name to go ahead.
    Confirm,
    Running,
    Done {
        ok: bool,
        summary: String,
    },
}

/// What the action tells the dialog while it plans and runs.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionMsg {
    Progress(Progress),
    Checksum(ChecksumEvent),
    /// The dry run ended: `Err` means refused (the checks say why).
    Planned(Result<(), String>),
    Finished {
        ok: bool,
        summary: String,
    },
    /// A promotion switched the shard's master: the model follows (sent before `Finished`).
    Promoted {
        shard: String,
        new_master: crate::fleet::Addr,
    },
}

/// Starts actions for the TUI: reads and checks (`dry_run`), or runs them,
/// sending progress as `ActionMsg`s. Implemented where the config is known.
pub trait ActionRunner: Send + Sync {
    fn start(
        &self,
        kind: ActionKind,
        shard: String,
        dry_run: bool,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        tx: tokio::sync::mpsc::UnboundedSender<ActionMsg>,
    );
}

/// What the dialog asks the event loop to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Run the action for real.
    Run,
    /// Ask a running checksum to stop between chunks.
    Stop,
    Close,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActionDialog {
    pub kind: ActionKind,
    pub shard_name: String,
    pub phase: Phase,
    pub checks: Vec<Check>,
    pub plan: Vec<PlannedStep>,
    pub typed: String,
    pub steps: Vec<StepLine>,
    /// The latest pause reason or note, shown under the steps.
    pub note: Option<String>,
    /// Checksum progress: rows done, rows estimated.
    pub rows: Option<(u64, u64)>,
    pub stop_requested: bool,
    /// Where it runs when not here: the collector of a remote viewer (`ui::remote_action`).
    pub on: Option<String>,
}

impl ActionDialog {
    pub fn new(kind: ActionKind, shard_name: impl Into<String>) -> Self {
        ActionDialog {
            kind,
            shard_name: shard_name.into(),
            phase: Phase::Planning,
            checks: Vec::new(),
            plan: Vec::new(),
            typed: String::new(),
            steps: Vec::new(),
            note: None,
            rows: None,
            stop_requested: false,
            on: None,
        }
    }

    pub fn title(&self) -> String {
        match &self.kind {
            ActionKind::Promote { candidate, .. } => format!("Promote {candidate} to master of {}", self.shard_name),
            ActionKind::Failover { candidate: Some(c), .. } => {
                format!("Fail over {}: {c} takes over from the dead master", self.shard_name)
            }
            ActionKind::Failover { candidate: None, .. } => {
                format!("Fail over {}: a replica takes over from the dead master", self.shard_name)
            }
            ActionKind::Fence { instance, .. } => format!("Fence {instance} in {}: read-only", self.shard_name),
            ActionKind::Rejoin { instance, .. } => {
                format!("Rejoin {instance} to {} as a replica of its master", self.shard_name)
            }
            ActionKind::Checksum { .. } => format!("Checksum shard {}", self.shard_name),
        }
    }

    pub fn confirmed_text_matches(&self) -> bool {
        self.typed == self.shard_name
    }

    pub fn on_msg(&mut self, msg: ActionMsg) {
        match msg {
            ActionMsg::Progress(p) => self.on_progress(p),
            ActionMsg::Checksum(e) => self.on_checksum(e),
            ActionMsg::Planned(Ok(())) => {
                if self.phase == Phase::Planning {
                    self.phase = Phase::Confirm;
                }
            }
            ActionMsg::Planned(Err(why)) => self.phase = Phase::Done { ok: false, summary: why },
            ActionMsg::Finished { ok, summary } => {
                self.note = None;
                self.phase = Phase::Done { ok, summary };
            }
            // The app's model handles it (`App::update`).
            ActionMsg::Promoted { .. } => {}
        }
    }

    fn on_progress(&mut self, p: Progress) {
        match p {
            Progress::Checks(c) => self.checks = c,
            Progress::Plan(p) => self.plan = p,
            // During planning the read step is noise; steps matter once running.
            _ if self.phase != Phase::Running => {}
            Progress::Started { step, what } => {
                self.steps.push(StepLine { name: step.into(), state: StepState::Running, took: None, detail: what })
            }
            Progress::Finished { step, took, detail } => self.finish(step, StepState::Done, took, detail),
            Progress::Failed { step, took, error } => self.finish(step, StepState::Failed, took, error),
            Progress::RolledBack { detail } => self.note = Some(format!("rolled back: {detail}")),
        }
    }

    fn finish(&mut self, step: &str, state: StepState, took: Duration, detail: String) {
        match self.steps.iter_mut().rev().find(|s| s.name == step && s.state == StepState::Running) {
            Some(s) => {
                s.state = state;
                s.took = Some(took);
                s.detail = detail;
            }
            None => self.steps.push(StepLine { name: step.into(), state, took: Some(took), detail }),
        }
    }

    fn on_checksum(&mut self, e: ChecksumEvent) {
        match e {
            // The plan as it runs: prepare, one line per table (or why it is skipped), each replica.
            ChecksumEvent::Plan { steps, .. } => self.plan = steps,
            // Each table step ends with its own verdict (rows and chunks, or skipped and why).
            ChecksumEvent::Step(p) => self.on_progress(p),
            ChecksumEvent::Chunk { db, tbl, chunk, done_rows, total_rows, chunk_size, .. } => {
                self.rows = Some((done_rows, total_rows));
                self.note = None;
                if let Some(s) = self.steps.last_mut() {
                    s.detail = format!("{db}.{tbl}: chunk {chunk}, {chunk_size} rows per chunk");
                }
            }
            ChecksumEvent::Paused { reason } => self.note = Some(format!("paused: {reason}")),
            ChecksumEvent::Resumed => self.note = None,
            ChecksumEvent::Note { text } => self.note = Some(text.clone()),
        }
    }

    /// A key while the dialog is open. Typing goes to the confirmation field.
    pub fn on_key(&mut self, key: KeyEvent) -> Effect {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (&self.phase, key.code) {
            (Phase::Planning | Phase::Confirm, KeyCode::Esc) => Effect::Close,
            (Phase::Confirm, KeyCode::Enter) if self.confirmed_text_matches() => {
                self.phase = Phase::Running;
                Effect::Run
            }
            (Phase::Confirm, KeyCode::Backspace) => {
                self.typed.pop();
                Effect::None
            }
            (Phase::Confirm, KeyCode::Char('u')) if ctrl => {
                self.typed.clear();
                Effect::None
            }
            (Phase::Confirm, KeyCode::Char(c)) if !ctrl && !c.is_control() && self.typed.chars().count() < 64 => {
                self.typed.push(c);
                Effect::None
            }
            // A promotion cannot be abandoned halfway; a checksum stops at once (and resumes later).
            (Phase::Running, KeyCode::Esc)
                if matches!(self.kind, ActionKind::Checksum { .. }) && !self.stop_requested =>
            {
                self.stop_requested = true;
                self.note = Some("stopping…".into());
                Effect::Stop
            }
            (Phase::Done { .. }, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) => Effect::Close,
            _ => Effect::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn promote() -> ActionDialog {
        ActionDialog::new(ActionKind::Promote { shard: 0, candidate: Addr::new("db2", 3306) }, "users-01")
    }

    fn type_text(d: &mut ActionDialog, s: &str) {
        for c in s.chars() {
            assert_eq!(d.on_key(key(KeyCode::Char(c))), Effect::None);
        }
    }

    #[test]
    fn runs_only_after_the_shard_name_is_typed() {
        let mut d = promote();
        // Nothing to confirm while planning.
        type_text(&mut d, "users-01");
        assert_eq!(d.typed, "");
        d.on_msg(ActionMsg::Progress(Progress::Plan(vec![PlannedStep { name: "freeze", what: "x".into() }])));
        d.on_msg(ActionMsg::Planned(Ok(())));
        assert_eq!(d.phase, Phase::Confirm);
        type_text(&mut d, "users-0");
        assert_eq!(d.on_key(key(KeyCode::Enter)), Effect::None, "a partial name does not confirm");
        type_text(&mut d, "2");
        assert_eq!(d.on_key(key(KeyCode::Enter)), Effect::None, "a wrong name does not confirm");
        d.on_key(key(KeyCode::Backspace));
        type_text(&mut d, "1");
        assert_eq!(d.on_key(key(KeyCode::Enter)), Effect::Run);
        assert_eq!(d.phase, Phase::Running);
    }

    #[test]
    fn a_refused_plan_ends_the_dialog_with_the_reason() {
        let mut d = promote();
        d.on_msg(ActionMsg::Planned(Err("refused: lag".into())));
        assert_eq!(d.phase, Phase::Done { ok: false, summary: "refused: lag".into() });
        assert_eq!(d.on_key(key(KeyCode::Enter)), Effect::Close);
    }

    #[test]
    fn steps_track_start_finish_and_failure() {
        let mut d = promote();
        d.phase = Phase::Running;
        d.on_msg(ActionMsg::Progress(Progress::Started { step: "freeze", what: "set read-only".into() }));
        assert_eq!(d.steps[0].state, StepState::Running);
        d.on_msg(ActionMsg::Progress(Progress::Finished {
            step: "freeze",
            took: Duration::from_millis(5),
            detail: "read_only ON".into(),
        }));
        d.on_msg(ActionMsg::Progress(Progress::Started { step: "catch_up", what: "wait".into() }));
        d.on_msg(ActionMsg::Progress(Progress::Failed {
            step: "catch_up",
            took: Duration::from_secs(1),
            error: "timeout".into(),
        }));
        d.on_msg(ActionMsg::Progress(Progress::RolledBack { detail: "master writable".into() }));
        let states: Vec<_> = d.steps.iter().map(|s| (s.name.as_str(), s.state)).collect();
        assert_eq!(states, vec![("freeze", StepState::Done), ("catch_up", StepState::Failed)]);
        assert_eq!(d.note.as_deref(), Some("rolled back: master writable"));
        // No escape from a running promotion.
        assert_eq!(d.on_key(key(KeyCode::Esc)), Effect::None);
    }

    #[test]
    fn a_running_checksum_stops_on_esc_once() {
        let mut d = ActionDialog::new(ActionKind::Checksum { shard: 0 }, "s1");
        d.phase = Phase::Running;
        d.on_msg(ActionMsg::Checksum(ChecksumEvent::Step(Progress::Started {
            step: "table",
            what: "social.photos: ~10000 rows in chunks over PRIMARY (id)".into(),
        })));
        d.on_msg(ActionMsg::Checksum(ChecksumEvent::Chunk {
            db: "social".into(),
            tbl: "photos".into(),
            chunk: 3,
            rows: 1000,
            chunk_size: 1000,
            took: Duration::from_millis(5),
            done_rows: 3000,
            total_rows: 10000,
        }));
        assert_eq!(d.rows, Some((3000, 10000)));
        assert_eq!(d.on_key(key(KeyCode::Esc)), Effect::Stop);
        assert_eq!(d.on_key(key(KeyCode::Esc)), Effect::None);
    }

    /// Issue 18: empty tables stayed "… social.followers" after the run ended.
    #[test]
    fn every_checksummed_table_ends_with_its_own_verdict() {
        let mut d = ActionDialog::new(ActionKind::Checksum { shard: 0 }, "s1");
        d.phase = Phase::Running;
        for (what, verdict) in [
            ("social.followers: ~0 rows in chunks over PRIMARY (id)", "social.followers: ✓ 0 rows in 3 chunks, 0.0 s"),
            ("social.nokey: skip — no key", "social.nokey: skipped — no key"),
        ] {
            d.on_msg(ActionMsg::Checksum(ChecksumEvent::Step(Progress::Started { step: "table", what: what.into() })));
            d.on_msg(ActionMsg::Checksum(ChecksumEvent::Step(Progress::Finished {
                step: "table",
                took: Duration::from_millis(3),
                detail: verdict.into(),
            })));
        }
        let lines: Vec<_> = d.steps.iter().map(|s| (s.state, s.detail.as_str())).collect();
        assert_eq!(
            lines,
            [
                (StepState::Done, "social.followers: ✓ 0 rows in 3 chunks, 0.0 s"),
                (StepState::Done, "social.nokey: skipped — no key")
            ]
        );
    }
}
