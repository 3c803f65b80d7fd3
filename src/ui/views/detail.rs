//! Shard detail: every instance, then everything about the selected one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{fmt_lag, fmt_rate, fresh_or_muted};
use crate::fleet::death::MasterState;
use crate::fleet::status::{IoState, SemiSync, WaitPoint};
use crate::fleet::{Instance, Role, Shard};
use crate::ui::app::App;
use crate::ui::theme::{Theme, health_symbol};

pub fn draw(app: &App, frame: &mut Frame, area: Rect, shard_idx: usize) -> usize {
    let Some(shard) = app.fleet.shards.get(shard_idx) else { return 0 };
    let t = &app.theme;
    let table_h = (shard.instances.len() as u16 + 2).min(area.height / 2).max(3);
    let [table_area, info_area] = Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(area);
    let title = Line::from(vec![
        Span::styled(format!(" {} ", shard.name), t.title),
        Span::styled(format!("{} {} ", health_symbol(shard.health), shard.health.label()), t.health(shard.health)),
        Span::styled(shard.upstream.as_ref().map(|u| format!("upstream {u} ")).unwrap_or_default(), t.muted),
    ]);
    let block =
        Block::default().borders(Borders::TOP).border_style(t.border).border_set(super::borders(app)).title(title);
    let wide = area.width >= 120;
    let rows = shard.instances.iter().map(|i| instance_row(app, i, wide));
    let mut header = vec!["", "ROLE", "ADDRESS", "RO", "IO", "SQL", "LAG", "HB", "QPS", "AGE"];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(7),
        Constraint::Length(if wide { 24 } else { 20 }),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    if wide {
        header.extend(["VERSION", "GTID"]);
        widths.extend([Constraint::Length(14), Constraint::Fill(1)]);
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header))
        .block(block)
        .row_highlight_style(t.selection)
        .column_spacing(1);
    let mut state =
        TableState::default().with_selected(Some(app.detail_selected.min(shard.instances.len().saturating_sub(1))));
    frame.render_stateful_widget(table, table_area, &mut state);
    if let Some(inst) = shard.instances.get(app.detail_selected) {
        draw_info(app, frame, info_area, shard, inst);
    }
    table_h.saturating_sub(2) as usize
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn instance_row<'a>(app: &App, i: &'a Instance, wide: bool) -> Row<'a> {
    let t = &app.theme;
    let age = i.age(app.now);
    let data = fresh_or_muted(app, if i.error.is_some() { None } else { age }, t.text);
    let status = i.status.as_ref();
    let link = status.and_then(|s| s.primary_link());
    let io = match link.map(|l| l.io_state) {
        None => ("—", t.muted),
        Some(IoState::Running) => ("Yes", t.ok),
        Some(IoState::Connecting) => ("Conn", t.crit),
        Some(IoState::Stopped) => ("No", t.crit),
    };
    let sql = match link.map(|l| l.sql_running) {
        None => ("—", t.muted),
        Some(true) => ("Yes", t.ok),
        Some(false) => ("No", t.crit),
    };
    let ro = status.map_or(("?", t.muted), |s| {
        let wrong = (i.role == Role::Master) == s.read_only;
        (yes_no(s.read_only), if wrong { t.warn } else { data })
    });
    let role = match i.role {
        Role::Master => "master",
        Role::Replica => "replica",
    };
    let mut cells = vec![
        Cell::from(health_symbol(i.health)).style(t.health(i.health)),
        Cell::from(role),
        Cell::from(i.addr.to_string()).style(data),
        Cell::from(ro.0).style(ro.1),
        Cell::from(io.0).style(io.1),
        Cell::from(sql.0).style(sql.1),
        Cell::from(fmt_lag(link.and_then(|l| l.seconds_behind).map(|v| v as f64))).style(data),
        Cell::from(fmt_lag(status.and_then(|s| s.heartbeat_lag))).style(data),
        Cell::from(fmt_rate(i.qps)).style(data),
        Cell::from(age_label(app, i)).style(if i.error.is_some() { t.crit } else { data }),
    ];
    if wide {
        cells.push(Cell::from(status.map(|s| short_version(&s.version)).unwrap_or_default()).style(data));
        cells.push(Cell::from(status.map(|s| s.gtid.display().to_string()).unwrap_or_default()).style(data));
    }
    Row::new(cells)
}

/// "1s", or "down" when the last probe failed and nothing was ever seen.
fn age_label(app: &App, i: &Instance) -> String {
    match (i.age(app.now), &i.error) {
        (None, Some(_)) => "down".into(),
        (None, None) => "—".into(),
        (Some(a), _) => super::fmt_lag(Some(a.floor())),
    }
}

/// What shardtop makes of a master that does not answer: suspect, unreachable (and who still
/// streams from it), or dead; nothing while it answers.
fn verdict_line<'a>(t: &Theme, shard: &Shard) -> Option<Line<'a>> {
    let state = shard.master_state.as_ref()?;
    let failures = match state {
        MasterState::Up => return None,
        MasterState::Suspect { failures }
        | MasterState::Unreachable { failures, .. }
        | MasterState::Dead { failures, .. } => *failures,
    };
    let mut spans = vec![
        Span::styled("verdict ", t.muted),
        Span::styled(format!("{}  ", state.describe()), t.crit),
        Span::styled(format!("{failures} failed probe{} in a row", if failures == 1 { "" } else { "s" }), t.muted),
    ];
    if let MasterState::Unreachable { connected, .. } = state
        && !connected.is_empty()
    {
        let list: Vec<String> = connected.iter().map(ToString::to_string).collect();
        spans.push(Span::styled(format!("  still connected: {}", list.join(", ")), t.warn));
    }
    Some(Line::from(spans))
}

/// Semi-sync in one line: the sides switched on (a master's wait point, clients, timeout and
/// unacknowledged commits), a fallback to async in the warning colour; "off" when neither side is on.
fn semi_sync_line<'a>(t: &Theme, ss: &SemiSync) -> Line<'a> {
    let mut spans = vec![Span::styled("semi-sync ", t.muted)];
    if let Some(m) = ss.master.as_ref().filter(|m| m.enabled) {
        let (state, style) = if m.fell_back() { ("master fell back to async", t.warn) } else { ("master on", t.ok) };
        spans.push(Span::styled(format!("{state}  "), style));
        let lossless = m.wait_point == Some(WaitPoint::AfterSync);
        spans.extend(kv(
            t,
            "wait",
            m.wait_point.map_or("?", WaitPoint::label).into(),
            if lossless { t.text } else { t.warn },
        ));
        spans.extend(kv(t, "clients", m.clients.to_string(), if m.clients > 0 { t.text } else { t.warn }));
        if let Some(ms) = m.timeout_ms {
            spans.extend(kv(t, "timeout", crate::fleet::health::fmt_ms(ms as f64), t.text));
        }
        spans.extend(kv(t, "unacknowledged", m.no_tx.to_string(), t.text));
    }
    if let Some(r) = ss.replica.as_ref().filter(|r| r.enabled) {
        let (state, style) = if r.active { ("replica on", t.ok) } else { ("replica on, not acknowledging", t.warn) };
        spans.push(Span::styled(state, style));
    }
    if spans.len() == 1 {
        spans.push(Span::styled("off", t.text));
    }
    Line::from(spans)
}

/// A remote viewer's server: what its collector says of it (role, read_only, its link), no more.
fn remote_lines<'a>(t: &Theme, inst: &crate::fleet::Instance) -> Vec<Line<'a>> {
    let Some(s) = &inst.status else { return Vec::new() };
    let mut l = vec![Span::styled("as its collector sees it: ", t.muted)];
    l.extend(kv(t, "read_only", yes_no(s.read_only).into(), t.text));
    let mut lines = vec![Line::from(l)];
    for link in &s.replication {
        let mut l =
            vec![Span::styled("replicates from ", t.muted), Span::styled(format!("{}  ", link.source), t.accent)];
        let io = link.io_state == crate::fleet::status::IoState::Running;
        l.extend(kv(t, "io", yes_no(io).into(), if io { t.text } else { t.crit }));
        l.extend(kv(t, "sql", yes_no(link.sql_running).into(), if link.sql_running { t.text } else { t.crit }));
        lines.push(Line::from(l));
    }
    lines
}

fn short_version(v: &str) -> String {
    v.split('-').take(2).collect::<Vec<_>>().join("-")
}

fn kv<'a>(t: &Theme, k: &'a str, v: String, style: Style) -> [Span<'a>; 2] {
    [Span::styled(format!("{k} "), t.muted), Span::styled(format!("{v}  "), style)]
}

fn draw_info(app: &App, frame: &mut Frame, area: Rect, shard: &Shard, inst: &Instance) {
    // Charts take the lower part when there is room for them and the facts above.
    let charts_h = if area.height >= 2 * super::charts::MIN_HEIGHT + 4 { area.height / 2 } else { 0 };
    let [area, charts_area] = Layout::vertical([Constraint::Min(0), Constraint::Length(charts_h)]).areas(area);
    if charts_h > 0 {
        super::charts::draw(app, frame, charts_area, shard, inst);
    }
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &inst.error {
        lines.push(Line::styled(format!("✖ {e}"), t.crit));
    }
    if inst.addr == shard.master().addr {
        lines.extend(verdict_line(t, shard));
    }
    if let Some(via) = &inst.discovered_via {
        lines.push(Line::styled(format!("discovered: {via}{}", if inst.gone { " (gone)" } else { "" }), t.muted));
    }
    if shard.metrics_only {
        lines.extend(remote_lines(t, inst));
    } else if let Some(s) = &inst.status {
        let mut l1 = Vec::new();
        l1.extend(kv(t, "version", s.version.clone(), t.text));
        l1.extend(kv(t, "server_id", s.server_id.to_string(), t.text));
        l1.extend(kv(t, "read_only", yes_no(s.read_only).into(), t.text));
        if let Some(sro) = s.super_read_only {
            l1.extend(kv(t, "super_read_only", yes_no(sro).into(), t.text));
        }
        l1.extend(kv(t, "binlog", if s.log_bin { s.binlog_format.clone() } else { "off".into() }, t.text));
        l1.extend(kv(t, "log_slave_updates", yes_no(s.log_slave_updates).into(), t.text));
        lines.push(Line::from(l1));
        let mut l2 = Vec::new();
        if let (Some(f), Some(p)) = (&s.binlog_file, s.binlog_pos) {
            l2.extend(kv(t, "binlog pos", format!("{f}:{p}"), t.text));
        }
        l2.extend(kv(t, "gtid", s.gtid.display().to_string(), t.text));
        if let Some(ms) = inst.probe_ms {
            l2.extend(kv(t, "probe", format!("{ms:.1}ms"), t.muted));
        }
        lines.push(Line::from(l2));
        if let Some(c) = inst.qps_by_command {
            let mut l3 = Vec::new();
            for (k, v) in [
                ("select", c.select),
                ("insert", c.insert),
                ("update", c.update),
                ("delete", c.delete),
                ("replace", c.replace),
            ] {
                l3.extend(kv(t, k, format!("{}/s", fmt_rate(Some(v))), t.text));
            }
            lines.push(Line::from(l3));
        }
        if let Some(e) = &s.heartbeat_error {
            lines.push(Line::styled(format!("heartbeat: {e}"), t.warn));
        }
        if let Some(ss) = &s.semi_sync {
            lines.push(semi_sync_line(t, ss));
        }
        for l in &s.replication {
            let name = if l.channel.is_empty() { String::new() } else { format!(" '{}'", l.channel) };
            let mut spans = vec![
                Span::styled(format!("replicates{name} from "), t.muted),
                Span::styled(format!("{}  ", l.source), t.accent),
            ];
            spans.extend(kv(t, "read", format!("{}:{}", l.source_log_file, l.read_source_log_pos), t.text));
            spans.extend(kv(t, "exec", format!("{}:{}", l.relay_source_log_file, l.exec_source_log_pos), t.text));
            spans.extend(kv(t, "gtid", gtid_mode_label(l.gtid_mode).into(), t.text));
            lines.push(Line::from(spans));
            if let Some((no, text)) = l.last_error() {
                lines.push(Line::styled(format!("last error {no}: {text}"), t.crit));
            }
        }
    }
    if let Some(f) = shard.feed.summary {
        let fmt = crate::fleet::health::fmt_ms;
        let mut l = vec![Span::styled(format!("feed ({}) ", shard.feed.source.label()), t.muted)];
        if f.samples > 0 {
            l.extend(kv(t, "p50", fmt(f.p50), t.text));
            l.extend(kv(t, "p95", fmt(f.p95), t.text));
        }
        l.extend(kv(t, "p99", fmt(f.p99), t.health(feed_health(app, f.p99))));
        if f.samples > 0 {
            l.extend(kv(t, "samples", f.samples.to_string(), t.muted));
        }
        lines.push(Line::from(l));
    }
    // Where the shard-wide figures come from, and what external sources say.
    let ext = &shard.external;
    if !ext.is_empty() {
        let mut l = Vec::new();
        for (k, v, f) in [
            ("qps", ext.qps, fmt_rate as fn(Option<f64>) -> String),
            ("lag", ext.lag, fmt_lag as fn(Option<f64>) -> String),
            ("feed p99", ext.feed_p99, |v: Option<f64>| v.map_or("—".into(), crate::fleet::health::fmt_ms)),
        ] {
            if let Some(e) = v {
                l.push(Span::styled(format!("{} {k} ", e.source.label()), t.muted));
                l.push(Span::styled(format!("{}  ", f(Some(e.value))), t.text));
            }
        }
        if let (Some(q), Some(at)) = (shard.qps_with_source(), ext.qps.map(|e| e.at).or(ext.lag.map(|e| e.at))) {
            let age = ((app.now - at).num_milliseconds().max(0) as f64 / 1000.0).floor();
            l.extend(kv(t, "shown qps from", format!("{} ({} ago)", q.1.label(), fmt_lag(Some(age))), t.muted));
        }
        lines.push(Line::from(l));
    }
    let problems: Vec<_> = shard.all_problems().collect();
    if !problems.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Problems in this shard", t.header));
        for p in problems {
            let who = p.instance.as_ref().map(|a| format!("{a} ")).unwrap_or_default();
            lines.push(Line::styled(format!("{} {who}{}", health_symbol(p.severity), p.message), t.health(p.severity)));
        }
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(format!(" {} ", inst.addr), t.title));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

/// The colour a feed p99 deserves against the thresholds.
pub fn feed_health(app: &App, p99_ms: f64) -> crate::fleet::Health {
    let lim = &app.fleet.limits;
    if p99_ms >= lim.feed_p99_crit.as_secs_f64() * 1e3 {
        crate::fleet::Health::Critical
    } else if p99_ms >= lim.feed_p99_warn.as_secs_f64() * 1e3 {
        crate::fleet::Health::Warning
    } else {
        crate::fleet::Health::Ok
    }
}

fn gtid_mode_label(m: crate::fleet::status::GtidMode) -> &'static str {
    use crate::fleet::status::GtidMode;
    match m {
        GtidMode::No => "no (file:pos)",
        GtidMode::SlavePos => "slave_pos",
        GtidMode::CurrentPos => "current_pos",
        GtidMode::AutoPosition => "auto_position",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::fleet::status::{ProbeError, ProbeErrorKind, Sample};
    use crate::poll::{Slot, Update};
    use crate::ui::app::tests::demo_app;
    use crate::ui::app::{App, Message, View};

    fn render(app: &App, w: u16, h: u16) -> String {
        crate::ui::terminal_tests::screen(app, w, h)
    }

    /// The demo at `t` with shard 0's master timing out `n` times in a row (SIGSTOPped, or cut
    /// off from shardtop) while its replicas keep streaming from it.
    fn hung_master(t: f64, n: usize) -> App {
        let mut app = demo_app(t);
        for _ in 0..n {
            let err = ProbeError { kind: ProbeErrorKind::Timeout, message: "no answer within 1.0 s".into() };
            let sample = Sample { at: app.now, elapsed: Duration::from_secs(1), result: Err(err) };
            app.update(Message::Sample(Update { slot: Slot { shard: 0, instance: 0 }, sample }));
        }
        app.view = View::Detail(0);
        app.show_events = false;
        app
    }

    #[test]
    fn a_hung_master_is_unreachable_naming_the_replicas_still_connected_80x24() {
        let wide = render(&hung_master(8.0, 2), 200, 30);
        assert!(
            wide.contains("2 failed probes in a row  still connected: db-users-01b:3306, db-users-01c:3306"),
            "{wide}"
        );
        insta::assert_snapshot!(render(&hung_master(8.0, 2), 80, 24));
    }

    #[test]
    fn a_master_that_fell_back_to_async_says_so_and_warns() {
        let mut app = demo_app(8.0);
        let mut status = app.fleet.shards[0].instances[0].status.clone().expect("polled");
        if let Some(m) = status.semi_sync.as_mut().and_then(|s| s.master.as_mut()) {
            (m.active, m.clients, m.no_tx) = (false, 0, 3);
        }
        let sample = Sample { at: app.now, elapsed: Duration::from_millis(2), result: Ok(status) };
        app.update(Message::Sample(Update { slot: Slot { shard: 0, instance: 0 }, sample }));
        app.view = View::Detail(0);
        app.show_events = false;
        let screen = render(&app, 200, 30);
        assert!(
            screen.contains(
                "semi-sync master fell back to async  wait AFTER_SYNC  clients 0  timeout 1.0s  unacknowledged 3"
            ),
            "{screen}"
        );
        assert!(
            screen.contains(
                "▲ db-users-01a:3306 semi-sync fell back to async: acknowledged writes are not safe on a replica"
            ),
            "{screen}"
        );
    }

    #[test]
    fn one_failed_probe_is_a_suspicion() {
        let screen = render(&hung_master(8.0, 1), 200, 30);
        assert!(
            screen.contains("verdict master unreachable (1 failed probe), not yet confirmed  1 failed probe in a row"),
            "{screen}"
        );
    }
}
