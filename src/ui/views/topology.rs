//! The replication tree of one shard or of all: who replicates from whom,
//! each link coloured by its state, anomalies on the nodes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};

use super::{Drawn, fmt_lag};
use crate::fleet::health::Health;
use crate::fleet::topology::{LinkState, NodeKind, Source, TreeRow, resolve};
use crate::fleet::{Instance, Role, Shard};
use crate::keymap::Action;
use crate::ui::app::{App, View};
use crate::ui::theme::health_symbol;
use crate::ui::topo::{Topo, TopoLine};

/// Tree connectors: box drawing, or ASCII for terminals and fonts without it.
struct Glyphs {
    branch: &'static str,
    last: &'static str,
    pipe: &'static str,
    blank: &'static str,
}

const BOX: Glyphs = Glyphs { branch: "├─", last: "└─", pipe: "│  ", blank: "   " };
const ASCII: Glyphs = Glyphs { branch: "|-", last: "`-", pipe: "|  ", blank: "   " };

pub fn draw(app: &App, frame: &mut Frame, area: Rect) -> Drawn {
    let t = &app.theme;
    let topo = Topo::new(app);
    let single = matches!(app.view, View::Topology(Some(_)));
    let title = match app.view {
        View::Topology(Some(s)) => {
            let shard = app.fleet.shards.get(s);
            let name = shard.map_or_else(String::new, |s| s.name.clone());
            let health = shard.map_or(Health::Unknown, |s| s.health);
            Line::from(vec![
                Span::styled(format!(" Topology {name} "), t.title),
                Span::styled(format!("{} {} ", health_symbol(health), health.label()), t.health(health)),
            ])
        }
        _ => {
            let mut narrowed = Vec::new();
            if app.problems_only {
                narrowed.push("problems only".to_string());
            }
            if !app.filter.is_empty() {
                narrowed.push(format!("filter \"{}\"", app.filter));
            }
            let n = topo.shards.len();
            let what = if narrowed.is_empty() {
                format!("{n} shards")
            } else {
                format!("{n} of {} shards, {}", app.fleet.shards.len(), narrowed.join(", "))
            };
            Line::from(Span::styled(format!(" Topology ({what}) "), t.title))
        }
    };
    let mut block =
        Block::default().borders(Borders::TOP).border_style(t.border).border_set(super::borders(app)).title(title);
    let glyphs = if app.ascii { &ASCII } else { &BOX };
    let height = area.height.saturating_sub(1) as usize;
    // Only the lines on screen are built, and only their shards' trees: a thousand
    // shards' trees are some 6,000 lines.
    let first = app.topo_window(&topo, height);
    let lines = topo.lines(first, height);
    let mut items: Vec<ListItem> = Vec::with_capacity(lines.len());
    for ((_, l), blk) in &lines {
        let Some(shard) = app.fleet.shards.get(blk.shard) else { continue };
        items.push(ListItem::new(match &blk.lines[*l] {
            TopoLine::Shard(_) => Line::from(vec![
                Span::styled(format!("{} ", health_symbol(shard.health)), t.health(shard.health)),
                Span::styled(shard.name.clone(), t.header),
                Span::styled(
                    crate::ui::summary::headline(shard).map(|p| format!("  {}", p.message)).unwrap_or_default(),
                    t.health(shard.health),
                ),
            ]),
            TopoLine::Node(s, row) => row_line(app, shard, *s, row, glyphs, if single { "" } else { "  " }),
        }));
    }
    let built = items.len();
    let last = lines.last().map(|(p, _)| *p);
    let whole = first == (0, 0) && last.is_none_or(|p| topo.forward(p, 1).is_none());
    if !whole && let Some((b, l)) = last {
        let at = if single {
            format!(" {}–{} of {} lines ", first.1 + 1, l + 1, topo.block(0).lines.len())
        } else {
            format!(" shards {}–{} of {} ", first.0 + 1, b + 1, topo.shards.len())
        };
        block = block.title(Line::styled(at, t.muted).right_aligned());
    }
    if items.is_empty() {
        let msg = if app.problems_only && app.filter.is_empty() && !app.fleet.shards.is_empty() {
            let key =
                app.keymap.first_key(Action::ProblemsOnly).map(|k| format!(" ({k} shows all)")).unwrap_or_default();
            format!("  no shard has a problem{key}")
        } else {
            "  no shard to show".to_string()
        };
        items.push(ListItem::new(Line::styled(msg, t.muted)));
    }
    let cursor = app.topo_cursor(&topo).map(|k| topo.pos_of(k));
    let selected = cursor.and_then(|c| lines.iter().position(|(p, _)| *p == c));
    let list = List::new(items).block(block).highlight_style(t.selection);
    let mut state = ListState::default().with_selected(selected);
    frame.render_stateful_widget(list, area, &mut state);
    Drawn { page: height, table_top: area.y as usize + 1, built }
}

fn prefix(row: &TreeRow, g: &Glyphs) -> String {
    let mut p = String::new();
    for level in 1..=row.depth {
        let last = row.last.get(level).copied().unwrap_or(true);
        if level == row.depth {
            p.push_str(if last { g.last } else { g.branch });
        } else {
            p.push_str(if last { g.blank } else { g.pipe });
        }
    }
    p
}

fn link_style(app: &App, link: Option<LinkState>) -> Style {
    match link {
        Some(l) => app.theme.health(l.health()),
        None => app.theme.border,
    }
}

fn row_line<'a>(app: &App, shard: &Shard, s: usize, row: &TreeRow, g: &Glyphs, indent: &str) -> Line<'a> {
    let t = &app.theme;
    let mut spans = vec![Span::raw(indent.to_string()), Span::styled(prefix(row, g), link_style(app, row.link))];
    if row.depth > 0 {
        spans.push(Span::raw(" "));
    }
    match &row.kind {
        NodeKind::Upstream { addr, declared } => {
            spans.push(Span::styled(format!("{addr}"), t.accent));
            let (what, style) = if *declared { ("upstream", t.muted) } else { ("upstream, not declared", t.warn) };
            spans.push(Span::styled(format!("  {what}"), style));
        }
        NodeKind::Foreign { addr, shard: other } => {
            spans.push(Span::styled(format!("{addr}"), t.crit));
            let what = match other {
                Some(name) => format!("  server of shard {name}"),
                None => "  not watched by shardtop".to_string(),
            };
            spans.push(Span::styled(what, t.warn));
        }
        NodeKind::Unidentified { host, count } => {
            let noun = if *count == 1 { "binlog client" } else { "binlog clients" };
            spans.push(Span::styled(
                format!("{count} {noun} on {host}, port unknown (replica without report_host, or a binlog reader)"),
                t.muted,
            ));
        }
        NodeKind::Instance(i) => {
            if let Some(inst) = shard.instances.get(*i) {
                instance_spans(app, shard, s, *i, inst, row.link, &mut spans);
            }
        }
    }
    Line::from(spans)
}

fn instance_spans(
    app: &App,
    shard: &Shard,
    s: usize,
    i: usize,
    inst: &Instance,
    link: Option<LinkState>,
    spans: &mut Vec<Span<'static>>,
) {
    let t = &app.theme;
    spans.push(Span::styled(format!("{} ", health_symbol(inst.health)), t.health(inst.health)));
    let data = if inst.error.is_some() { t.muted } else { t.text };
    spans.push(Span::styled(inst.addr.to_string(), data));
    let relay = shard
        .instances
        .iter()
        .filter_map(|x| x.status.as_ref()?.primary_link())
        .any(|l| resolve(shard, s, &app.fleet.index, l) == Source::Member(i));
    let role = match inst.role {
        Role::Master if i == 0 => "master",
        _ if relay => "relay",
        _ => "replica",
    };
    spans.push(Span::styled(format!("  {role}"), t.muted));
    if inst.discovered_via.is_some() {
        spans.push(Span::styled(" (discovered)", t.muted));
    }
    if inst.role == Role::Replica && inst.status.as_ref().is_some_and(|st| st.writable()) {
        spans.push(Span::styled("  writable", t.warn));
    }
    if let Some(l) = link {
        spans.push(Span::styled(format!("  {}", l.label()), app.theme.health(l.health())));
        if inst.error.is_none()
            && let Some(lag) = inst.lag()
        {
            spans.push(Span::styled(format!(" {}", fmt_lag(Some(lag))), app.theme.health(l.health())));
        }
    }
    // The node's worst finding, anomalies included.
    let worst = inst.problems.iter().fold(None, |best: Option<&crate::fleet::Problem>, p| match best {
        Some(b) if b.severity >= p.severity => Some(b),
        _ => Some(p),
    });
    if let Some(p) = worst.filter(|p| p.severity != Health::Ok) {
        spans.push(Span::styled(format!("  {}", p.message), t.health(p.severity)));
    }
}
