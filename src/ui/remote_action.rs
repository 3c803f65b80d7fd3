//! Actions from a remote viewer (`shardtop --connect`): the local TUI's dialogs, run on the
//! collector. What the viewer's token may do is the collector's word (`GET /api/v1/access`):
//! a token that may act gets the dialogs, titled with the collector they run on, and its plans
//! and progress come from there (`serve::remote_runner`); any other gets a dialog that says why
//! actions are unavailable. Pure: the app only changes its own state here.

use super::action::{ActionDialog, ActionKind, Phase};
use super::app::App;

/// What the collector said of this viewer's token.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Grant {
    /// The token's name, which the collector's audit log records.
    pub identity: Option<String>,
    pub may_act: bool,
    /// Why not, when it may not.
    pub why_not: Option<String>,
}

/// Set `app` up for a remote viewer of `collector` whose token has `grant`.
pub fn configure(app: &mut App, collector: &str, grant: &Grant) {
    app.actions_remote = Some(collector.to_string());
    if grant.may_act {
        app.actions_configured = true;
        app.actions_elsewhere = None;
    } else {
        let why = grant.why_not.as_deref().unwrap_or("the collector does not allow actions from this token");
        app.actions_elsewhere = Some(format!("actions are unavailable from this viewer: {why}"));
    }
}

/// The dialog for an action that may not start here: it only says why.
pub fn unavailable(kind: ActionKind, shard: String, why: &str) -> ActionDialog {
    let mut d = ActionDialog::new(kind, shard);
    d.phase = Phase::Done { ok: false, summary: why.to_string() };
    d
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::actions::{Check, PlannedStep, Progress};
    use crate::fleet::external::{Figure, MetricsUpdate, SourceState};
    use crate::fleet::remote::{RemoteMember, RemoteShard};
    use crate::fleet::{Addr, Fleet, Health, Limits, Problem, Shard, Source};
    use crate::ui::action::ActionMsg;
    use crate::ui::app::{ActionEffect, Effect, Message, View};
    use crate::ui::theme::Theme;

    fn member(host: &str, master: bool, sql: bool, lag: Option<f64>) -> RemoteMember {
        RemoteMember {
            addr: Addr::new(host, 3306),
            master,
            up: true,
            health: if sql { Health::Ok } else { Health::Critical },
            read_only: Some(!master),
            source: (!master).then(|| Addr::new("db1", 3306)),
            io: (!master).then_some(true),
            sql: (!master).then_some(sql),
            lag,
        }
    }

    /// A viewer of collector `c:9105` after its first frame: shard s1 with a master, a replica 3 s
    /// behind and one whose SQL thread stopped; s2 healthy.
    fn remote_app() -> App {
        let shards = vec![
            Shard::new("s1", Addr::new("db1", 3306), [], None),
            Shard::new("s2", Addr::new("db4", 3306), [], None),
        ];
        let mut fleet = Fleet::new(shards, Limits::default());
        fleet.sources = vec![SourceState::new("c:9105", Source::Collector)];
        let mut app = App::new(fleet.metrics_only(), Theme::plain(), "c:9105", Duration::from_secs(5));
        app.clock_offset = chrono::FixedOffset::east_opt(0).unwrap_or(app.clock_offset);
        let at = Utc.timestamp_opt(1_764_000_000, 0).single().unwrap_or_default();
        app.now = at;
        let stopped = Problem {
            severity: Health::Critical,
            rule: "sql_thread",
            instance: Some(Addr::new("db3", 3306)),
            message: "SQL thread stopped".into(),
        };
        let remote = vec![
            RemoteShard {
                shard: 0,
                master_state: Some("up".into()),
                health: Health::Critical,
                members: vec![
                    member("db1", true, true, None),
                    member("db2", false, true, Some(3.0)),
                    member("db3", false, false, None),
                ],
                problems: vec![stopped],
            },
            RemoteShard {
                shard: 1,
                master_state: Some("up".into()),
                health: Health::Ok,
                members: vec![member("db4", true, true, None), member("db5", false, true, Some(0.0))],
                problems: vec![],
            },
        ];
        let update = MetricsUpdate {
            source: 0,
            kind: Source::Collector,
            at,
            values: vec![(0, Figure::Health, 2.0), (0, Figure::Qps, 1200.0), (1, Figure::Health, 0.0)],
            error: None,
            notes: Vec::new(),
            backfill: Vec::new(),
            remote,
        };
        app.update(Message::Metrics(update));
        app
    }

    fn render(app: &App, w: u16, h: u16) -> String {
        crate::ui::terminal_tests::screen(app, w, h)
    }

    fn key(app: &mut App, c: KeyCode) -> Vec<Effect> {
        app.update(Message::Key(KeyEvent::new(c, KeyModifiers::NONE)))
    }

    /// The detail of s1 with the cursor on db2, as `P` will find it.
    fn on_replica(app: &mut App) {
        app.view = View::Detail(0);
        app.detail_selected = 1;
    }

    #[test]
    fn the_remote_detail_shows_each_server_its_role_threads_and_lag_80x24() {
        let mut app = remote_app();
        app.view = View::Detail(0);
        app.detail_selected = 2;
        let screen = render(&app, 80, 24);
        assert!(screen.contains("replicates from db1:3306  io yes  sql no"), "{screen}");
        for want in ["db1:3306", "db2:3306", "db3:3306"] {
            assert!(screen.contains(want), "{want}:\n{screen}");
        }
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn the_remote_topology_shows_who_replicates_from_whom_80x24() {
        let mut app = remote_app();
        app.view = View::Topology(Some(0));
        let screen = render(&app, 80, 24);
        assert!(screen.contains("db2:3306") && screen.contains("db3:3306"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn a_read_only_token_is_told_why_and_nothing_is_asked_of_the_collector_80x24() {
        let mut app = remote_app();
        let grant = Grant {
            identity: Some("lcd".into()),
            may_act: false,
            why_not: Some("lcd is a read-only token: actions need a token with the `act` grant".into()),
        };
        configure(&mut app, "c:9105", &grant);
        on_replica(&mut app);
        assert!(key(&mut app, KeyCode::Char('P')).is_empty(), "no plan is asked for");
        let screen = render(&app, 80, 24);
        assert!(screen.contains("lcd is a read-only token"), "{screen}");
        insta::assert_snapshot!(screen);
        key(&mut app, KeyCode::Esc);
        assert!(app.dialog.is_none());
    }

    #[test]
    fn a_token_that_may_act_plans_on_the_collector_confirms_and_follows_the_run_80x24() {
        let mut app = remote_app();
        configure(&mut app, "c:9105", &Grant { identity: Some("alice".into()), may_act: true, why_not: None });
        on_replica(&mut app);
        let effects = key(&mut app, KeyCode::Char('P'));
        let kind = ActionKind::Promote { shard: 0, candidate: Addr::new("db2", 3306) };
        assert_eq!(effects, vec![Effect::Action(ActionEffect::Plan(kind.clone()))]);
        let screen = render(&app, 80, 24);
        assert!(screen.contains("on the collector c:9105") && screen.contains("checking"), "{screen}");
        // The collector's dry run, as the remote runner hands it over.
        let check = |name, ok, detail: &str| Check { name, ok, detail: detail.into(), forced: false };
        for m in [
            ActionMsg::Progress(Progress::Checks(vec![
                check("direct_replica", true, "replicates from the master"),
                check("lag", true, "3 s (limit 10 s)"),
            ])),
            ActionMsg::Progress(Progress::Plan(vec![
                PlannedStep { name: "freeze", what: "set db1:3306 read-only".into() },
                PlannedStep { name: "promote", what: "make db2:3306 writable".into() },
            ])),
            ActionMsg::Planned(Ok(())),
        ] {
            app.update(Message::Action(m));
        }
        insta::assert_snapshot!("remote_confirm_80x24", render(&app, 80, 24));
        for c in "s1".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        assert_eq!(key(&mut app, KeyCode::Enter), vec![Effect::Action(ActionEffect::Run(kind))]);
        for m in [
            ActionMsg::Progress(Progress::Started { step: "freeze", what: "set db1:3306 read-only".into() }),
            ActionMsg::Progress(Progress::Finished {
                step: "freeze",
                took: Duration::from_millis(4),
                detail: "read_only ON".into(),
            }),
            ActionMsg::Progress(Progress::Started { step: "promote", what: "make db2:3306 writable".into() }),
        ] {
            app.update(Message::Action(m));
        }
        insta::assert_snapshot!("remote_running_80x24", render(&app, 80, 24));
        app.update(Message::Action(ActionMsg::Finished { ok: true, summary: "db2:3306 is the master of s1".into() }));
        let screen = render(&app, 80, 24);
        assert!(screen.contains("db2:3306 is the master of s1"), "{screen}");
        key(&mut app, KeyCode::Enter);
        assert!(app.dialog.is_none());
    }

    #[test]
    fn a_dead_master_offers_the_failover_and_a_stop_is_asked_of_a_remote_checksum() {
        let mut app = remote_app();
        configure(&mut app, "c:9105", &Grant { identity: Some("alice".into()), may_act: true, why_not: None });
        let mut dead = app.fleet.clone();
        dead.shards[0].master_state = Some(crate::fleet::death::MasterState::Dead { failures: 3, asked: 2 });
        app.fleet = dead;
        app.view = View::Detail(0);
        let effects = key(&mut app, KeyCode::Char('P'));
        assert!(
            matches!(effects.as_slice(), [Effect::Action(ActionEffect::Plan(ActionKind::Failover { shard: 0, .. }))]),
            "{effects:?}"
        );
        key(&mut app, KeyCode::Esc);
        // A former master (here any server but the master) is rejoined with R from the detail.
        app.detail_selected = 1;
        let effects = key(&mut app, KeyCode::Char('R'));
        let rejoin = ActionKind::Rejoin { shard: 0, instance: Addr::new("db2", 3306) };
        assert_eq!(effects, vec![Effect::Action(ActionEffect::Plan(rejoin))]);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Char('C'));
        app.update(Message::Action(ActionMsg::Planned(Ok(()))));
        for c in "s1".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Enter);
        assert_eq!(key(&mut app, KeyCode::Esc), vec![Effect::Action(ActionEffect::Stop)]);
        let screen = render(&app, 200, 60);
        assert!(
            screen.contains("stopping")
                && screen.contains("Checksum shard s1")
                && screen.contains("on the collector c:9105"),
            "{screen}"
        );
    }
}
