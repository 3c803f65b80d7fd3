//! The action dialog: checks and plan, the typed confirmation, live steps, outcome.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::ui::action::{ActionDialog, Phase, StepState};
use crate::ui::app::App;

/// Checks that carry what the operator decides on (the failover's chosen candidate and what
/// may be lost): shown in full even when they pass.
const SPELLED_OUT: &[&str] = &["candidate", "may_be_lost"];

pub fn draw(app: &App, d: &ActionDialog, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    // A remote viewer's action: planned and run by its collector, with the collector's accounts.
    if let Some(on) = &d.on {
        lines.push(Line::styled(format!("on the collector {on}"), t.muted));
    }
    if !d.checks.is_empty() {
        // Passing checks fold into one line so the plan and the prompt fit on a small screen.
        let spelled = |c: &&crate::actions::Check| !c.ok || SPELLED_OUT.contains(&c.name);
        let passed = d.checks.iter().filter(|c| c.ok && !spelled(c)).count();
        lines.push(Line::styled("Checks", t.header));
        if passed > 0 {
            let names: Vec<&str> = d.checks.iter().filter(|c| c.ok && !spelled(c)).map(|c| c.name).collect();
            lines.push(Line::from(vec![
                Span::styled(format!(" ✓ {passed} passed: "), t.ok),
                Span::styled(names.join(", "), t.muted),
            ]));
        }
        for c in d.checks.iter().filter(spelled) {
            let (mark, style) = if c.ok {
                ("✓", t.ok)
            } else if c.forced {
                ("!", t.warn)
            } else {
                ("✖", t.crit)
            };
            lines.push(Line::from(vec![
                Span::styled(format!(" {mark} {:<19}", c.name), style),
                Span::styled(c.detail.clone(), if c.ok { t.muted } else { style }),
            ]));
        }
    }
    if !d.plan.is_empty() && d.steps.is_empty() {
        lines.push(Line::styled("Plan", t.header));
        for (i, s) in d.plan.iter().enumerate() {
            lines.push(Line::from(vec![Span::styled(format!(" {:>2}. ", i + 1), t.muted), Span::raw(s.what.clone())]));
        }
    }
    if !d.steps.is_empty() {
        lines.push(Line::styled("Steps", t.header));
        for s in &d.steps {
            let (mark, style) = match s.state {
                StepState::Running => ("…", t.accent),
                StepState::Done => ("✓", t.ok),
                StepState::Failed => ("✖", t.crit),
            };
            let took = s.took.map(|d| format!("{:>7.1} ms ", d.as_secs_f64() * 1e3)).unwrap_or_else(|| " ".repeat(11));
            lines.push(Line::from(vec![
                Span::styled(format!(" {mark} {:<16}", s.name), style),
                Span::styled(took, t.muted),
                Span::raw(s.detail.clone()),
            ]));
        }
    }
    if let Some((done, total)) = d.rows {
        let pct = if total > 0 { (done as f64 / total as f64 * 100.0).min(100.0) } else { 0.0 };
        lines.push(Line::styled(format!(" {done} of ~{total} rows ({pct:.0}%)"), t.accent));
    }
    if let Some(n) = &d.note {
        lines.push(Line::styled(format!(" {n}"), t.warn));
    }
    let mut foot: Vec<Line> = Vec::new();
    match &d.phase {
        Phase::Planning => foot.push(Line::styled(" reading the shard and checking…  (Esc closes)", t.muted)),
        Phase::Confirm => {
            foot.push(Line::from(vec![
                Span::styled(format!(" Type the shard name ({}) and Enter to go ahead: ", d.shard_name), t.warn),
                Span::styled(format!("{}█", d.typed), t.selection),
            ]));
            foot.push(Line::styled(" Esc cancels; nothing has been changed.", t.muted));
        }
        Phase::Running => foot.push(Line::styled(
            match d.kind {
                crate::ui::action::ActionKind::Promote { .. } => " running — a promotion cannot be abandoned halfway",
                crate::ui::action::ActionKind::Failover { .. } => " running — a failover cannot be abandoned halfway",
                crate::ui::action::ActionKind::Fence { .. } | crate::ui::action::ActionKind::Rejoin { .. } => {
                    " running"
                }
                crate::ui::action::ActionKind::Checksum { .. } => " running — Esc stops after the current chunk",
            },
            t.muted,
        )),
        Phase::Done { ok, summary } => {
            let style = if *ok { t.ok } else { t.crit };
            for (i, l) in summary.lines().enumerate() {
                let mark = if i == 0 { if *ok { "✓ " } else { "✖ " } } else { "  " };
                lines.push(Line::styled(format!(" {mark}{l}"), style));
            }
            foot.push(Line::styled(" Enter or Esc closes.", t.muted));
        }
    }
    let w = area.width.saturating_sub(4).min(110).max(20.min(area.width));
    let inner_w = w.saturating_sub(2).max(1) as usize;
    // Rows after wrapping, so the prompt below is never pushed off the screen.
    let rows = |ls: &[Line]| ls.iter().map(|l| l.width().max(1).div_ceil(inner_w) as u16).sum::<u16>();
    let foot_h = rows(&foot);
    let h = (rows(&lines) + foot_h + 2).min(area.height);
    let (popup, block) = super::popup(app, frame, area, (w, h), Span::styled(format!(" {} ", d.title()), t.title));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let foot_h = foot_h.min(inner.height);
    let body = Rect { height: inner.height - foot_h, ..inner };
    let foot_area = Rect { y: inner.y + inner.height - foot_h, height: foot_h, ..inner };
    // When the body overflows, its end (latest steps, outcome) is what matters.
    let overflow = rows(&lines).saturating_sub(body.height);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((overflow, 0)), body);
    frame.render_widget(Paragraph::new(foot).wrap(Wrap { trim: false }), foot_area);
}
