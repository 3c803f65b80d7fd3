//! What the watcher said (its JSON lines), what the harness did (the faults) and what the
//! process cost (memory, sockets, CPU), judged per fault and written as a markdown report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::faults::{Expect, Kind};

#[derive(Clone, Debug, PartialEq)]
pub struct Ev {
    pub t: i64,
    pub shard: String,
    pub severity: String,
    pub rule: String,
    pub message: String,
}

impl Ev {
    /// The server an event is about (its message starts with the address), or the shard.
    pub fn who(&self) -> &str {
        match self.message.split_once(' ') {
            Some((first, _)) if first.contains(':') => first,
            _ => "shard",
        }
    }

    pub fn ok(&self) -> bool {
        self.severity == "ok"
    }
}

#[derive(Clone, Debug, Default)]
pub struct Inst {
    pub shard: String,
    pub addr: String,
    pub age_ms: Option<i64>,
    pub probed_ms: Option<i64>,
    pub probe_ms: Option<f64>,
    pub error: Option<String>,
    pub qps: Option<f64>,
    pub problems: Vec<String>,
    pub discovered: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Status {
    pub t: i64,
    pub samples: u64,
    pub instances: Vec<Inst>,
}

pub enum Line {
    Event(Ev),
    Status(Status),
}

/// One line of `shardtop watch`; `None` for anything else.
pub fn parse_line(text: &str) -> Option<Line> {
    let j: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    match j["type"].as_str()? {
        "event" => Some(Line::Event(Ev {
            t: j["t"].as_i64()?,
            shard: s(&j["shard"]),
            severity: s(&j["severity"]),
            rule: s(&j["rule"]),
            message: s(&j["message"]),
        })),
        "status" => Some(Line::Status(Status {
            t: j["t"].as_i64()?,
            samples: j["samples"].as_u64().unwrap_or(0),
            instances: j["instances"]
                .as_array()?
                .iter()
                .map(|i| Inst {
                    shard: s(&i["shard"]),
                    addr: s(&i["addr"]),
                    age_ms: i["age_ms"].as_i64(),
                    probed_ms: i["probed_ms"].as_i64(),
                    probe_ms: i["probe_ms"].as_f64(),
                    error: i["error"].as_str().map(str::to_string),
                    qps: i["qps"].as_f64(),
                    problems: i["problems"].as_array().into_iter().flatten().map(s).collect(),
                    discovered: i["discovered"].as_bool().unwrap_or(false),
                })
                .collect(),
        })),
        _ => None,
    }
}

/// The watcher process as /proc saw it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Res {
    pub t: i64,
    pub rss_kb: u64,
    pub threads: u64,
    pub sockets: u64,
    pub fds: u64,
    pub cpu_ms: u64,
    /// Probe results the watcher had received by then (from its latest status line).
    pub samples: u64,
}

/// A fault as it was done.
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: Kind,
    pub shard: String,
    /// Instance name (`s51-r1`) and the address shardtop knows it by.
    pub target: String,
    pub addr: String,
    pub injected: i64,
    /// When the fault was undone (the server answers again, the name resolves, …).
    pub cleared: i64,
    /// Until the lane's next fault (or the end): events of the shard in here are this fault's.
    pub window_end: i64,
}

pub struct Params {
    pub seed: u64,
    pub minutes: f64,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub confirm_ms: i64,
    pub started: i64,
    pub ended: i64,
    /// Whether the watcher ran in a mount namespace of its own (the DNS fault needs it).
    pub dns: bool,
}

impl Params {
    pub fn detect_bound(&self) -> i64 {
        self.interval_ms + self.timeout_ms + self.confirm_ms
    }

    pub fn recover_bound(&self) -> i64 {
        2 * self.interval_ms
    }
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub detect_ms: Option<i64>,
    pub recover_ms: Option<i64>,
    /// Findings raised, as `rule@server`.
    pub raised: Vec<String>,
    /// Raised and never said to be over within the window.
    pub unrecovered: Vec<String>,
    /// A finding raised (or cleared) more than once within one fault.
    pub flaps: Vec<String>,
    /// Events of a fault that should have made none.
    pub noise: Vec<String>,
}

/// The fault's events: the shard's, within its window, about its server (or any, for the master).
fn events_of<'a>(f: &Fault, events: &'a [Ev]) -> Vec<&'a Ev> {
    events
        .iter()
        .filter(|e| e.shard == f.shard && e.t >= f.injected && e.t < f.window_end)
        .filter(|e| f.kind.hits_whole_shard() || f.kind.expect() == Expect::Quiet || e.who() == f.addr)
        .collect()
}

pub fn judge(f: &Fault, events: &[Ev]) -> Outcome {
    let mine = events_of(f, events);
    let mut out = Outcome::default();
    if f.kind.expect() == Expect::Quiet {
        out.noise = mine.iter().map(|e| format!("{} {}: {}", e.severity, e.rule, e.message)).collect();
        return out;
    }
    out.detect_ms = mine.iter().find(|e| !e.ok()).map(|e| e.t - f.injected);
    // Per finding (rule and server): raised, said over, raised again (a flap), in order. The
    // master's verdict is one finding whatever its rule: "unreachable, not yet confirmed" then
    // "dead" refines it, as the model means it (one event per verdict, one recovery).
    let mut keys: BTreeMap<String, Vec<&Ev>> = BTreeMap::new();
    for e in &mine {
        let rule = if e.rule.starts_with("master_") { "master verdict" } else { e.rule.as_str() };
        keys.entry(format!("{rule}@{}", e.who())).or_default().push(e);
    }
    let mut last_ok = None;
    for (key, seq) in &keys {
        let Some(first) = seq.iter().position(|e| !e.ok()) else {
            // Cleared something raised before the window: another fault's news, not this one's.
            continue;
        };
        out.raised.push(key.clone());
        let seq = &seq[first..];
        let oks = seq.iter().filter(|e| e.ok()).count();
        let raised_again = seq.windows(2).any(|w| w[0].ok() && !w[1].ok());
        if oks > 1 || raised_again {
            let told: Vec<String> = seq.iter().map(|e| format!("{} at +{} ms", e.severity, e.t - f.injected)).collect();
            out.flaps.push(format!("{key}: {}", told.join(", ")));
        }
        match seq.last() {
            Some(e) if e.ok() => last_ok = last_ok.max(Some(e.t)),
            _ => out.unrecovered.push(key.clone()),
        }
    }
    if out.unrecovered.is_empty() {
        out.recover_ms = last_ok.map(|t| (t - f.cleared).max(0));
    }
    out
}

/// Events of a shard that no fault of it explains.
pub fn unexplained<'a>(faults: &[Fault], events: &'a [Ev]) -> Vec<&'a Ev> {
    events
        .iter()
        .filter(|e| !faults.iter().any(|f| f.shard == e.shard && e.t >= f.injected && e.t < f.window_end))
        .collect()
}

/// `p` in 0..=100 of the values (nearest rank); `None` when there are none.
pub fn percentile(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// The whole run's verdicts: what must fail the test whatever the machine's load, and the
/// timing bounds (reported; failing only in strict mode).
#[derive(Default, Debug)]
pub struct Verdicts {
    pub hard: Vec<String>,
    pub timing: Vec<String>,
}

pub struct Run<'a> {
    pub params: &'a Params,
    pub faults: &'a [Fault],
    pub events: &'a [Ev],
    pub statuses: &'a [Status],
    pub res: &'a [Res],
    /// Whether the watcher panicked (its stderr) and how it ended.
    pub panics: Vec<String>,
    pub exit: String,
}

impl Run<'_> {
    /// Whether `shard` has no fault open at `t` (from injection to recovery + an interval) whose
    /// effects show in its data.
    fn quiet_shard(&self, shard: &str, t: i64, outcomes: &[Outcome]) -> bool {
        !self.faults.iter().zip(outcomes).any(|(f, o)| {
            let end = match (f.kind.expect(), o.recover_ms) {
                // A fault that should go unnoticed leaves the shard's data fresh all along.
                (Expect::Quiet, _) => return false,
                (Expect::Alarm, Some(r)) => f.cleared + r + self.params.interval_ms,
                (Expect::Alarm, None) => f.window_end,
            };
            f.shard == shard && t >= f.injected && t <= end
        })
    }

    pub fn render(&self) -> (String, Verdicts) {
        let p = self.params;
        let outcomes: Vec<Outcome> = self.faults.iter().map(|f| judge(f, self.events)).collect();
        let mut v = Verdicts::default();
        let mut md = String::new();
        let _ = writeln!(md, "# shardtop soak report\n");
        let _ = writeln!(
            md,
            "Seed {} · {:.1} min · {} faults on {} shards · poll interval {} ms, timeout {} ms, confirmation {} ms · \
             bounds: detected within interval + timeout + confirmation = {} ms, recovered within two intervals = {} ms \
             of the fault's end.\n",
            p.seed,
            p.minutes,
            self.faults.len(),
            self.faults.iter().map(|f| &f.shard).collect::<std::collections::BTreeSet<_>>().len(),
            p.interval_ms,
            p.timeout_ms,
            p.confirm_ms,
            p.detect_bound(),
            p.recover_bound(),
        );
        if !p.dns {
            let _ = writeln!(
                md,
                "The watcher could not get a mount namespace of its own (`unshare -m`): the DNS fault was not run.\n"
            );
        }
        // Per kind.
        let _ = writeln!(
            md,
            "| fault | n | expected | detected | detection p50 / p99 / max (ms) | recovery p50 / p99 / max (ms) | over bound | flapping |"
        );
        let _ = writeln!(md, "|---|---:|---|---:|---|---|---:|---:|");
        let mut all_detect = Vec::new();
        let mut all_recover = Vec::new();
        for kind in Kind::ALL {
            let of: Vec<(&Fault, &Outcome)> =
                self.faults.iter().zip(&outcomes).filter(|(f, _)| f.kind == kind).collect();
            if of.is_empty() {
                continue;
            }
            let detect: Vec<i64> = of.iter().filter_map(|(_, o)| o.detect_ms).collect();
            let recover: Vec<i64> = of.iter().filter_map(|(_, o)| o.recover_ms).collect();
            all_detect.extend(&detect);
            all_recover.extend(&recover);
            let over = of
                .iter()
                .filter(|(_, o)| {
                    o.detect_ms.is_some_and(|d| d > p.detect_bound())
                        || o.recover_ms.is_some_and(|r| r > p.recover_bound())
                })
                .count();
            let flaps = of.iter().filter(|(_, o)| !o.flaps.is_empty()).count();
            let trio = |v: &[i64]| match (percentile(v, 50.0), percentile(v, 99.0), v.iter().max()) {
                (Some(a), Some(b), Some(c)) => format!("{a} / {b} / {c}"),
                _ => "–".into(),
            };
            let (expected, detected) = match kind.expect() {
                Expect::Alarm => ("alarm", format!("{}/{}", detect.len(), of.len())),
                Expect::Quiet => {
                    ("no event", format!("{} noisy", of.iter().filter(|(_, o)| !o.noise.is_empty()).count()))
                }
            };
            let _ = writeln!(
                md,
                "| {} | {} | {expected} | {detected} | {} | {} | {over} | {flaps} |",
                kind.label(),
                of.len(),
                trio(&detect),
                trio(&recover)
            );
        }
        let _ = writeln!(
            md,
            "\nAll alarms: detection p50 {} ms, p99 {} ms; recovery p50 {} ms, p99 {} ms.\n",
            fmt_opt(percentile(&all_detect, 50.0)),
            fmt_opt(percentile(&all_detect, 99.0)),
            fmt_opt(percentile(&all_recover, 50.0)),
            fmt_opt(percentile(&all_recover, 99.0)),
        );
        // Every fault.
        let _ = writeln!(md, "## Faults in the order injected\n");
        let _ = writeln!(
            md,
            "| # | at (s) | shard | fault | server | held (ms) | detected (ms) | recovered (ms) | events | verdict |"
        );
        let _ = writeln!(md, "|---:|---:|---|---|---|---:|---:|---:|---|---|");
        let mut order: Vec<usize> = (0..self.faults.len()).collect();
        order.sort_by_key(|&i| self.faults[i].injected);
        for (n, &i) in order.iter().enumerate() {
            let (f, o) = (&self.faults[i], &outcomes[i]);
            let mut verdict = Vec::new();
            match f.kind.expect() {
                Expect::Alarm => {
                    match o.detect_ms {
                        None => {
                            verdict.push("MISSED".to_string());
                            v.hard.push(format!("#{} {} on {}: not detected", n + 1, f.kind.label(), f.target));
                        }
                        Some(d) if d > p.detect_bound() => {
                            verdict.push(format!("detection over {} ms", p.detect_bound()));
                            v.timing.push(format!(
                                "#{} {} on {}: detected after {d} ms",
                                n + 1,
                                f.kind.label(),
                                f.target
                            ));
                        }
                        Some(_) => {}
                    }
                    if !o.unrecovered.is_empty() {
                        verdict.push(format!("NOT RECOVERED: {}", o.unrecovered.join(", ")));
                        v.hard.push(format!(
                            "#{} {} on {}: no recovery event for {}",
                            n + 1,
                            f.kind.label(),
                            f.target,
                            o.unrecovered.join(", ")
                        ));
                    } else if let Some(r) = o.recover_ms.filter(|&r| r > p.recover_bound()) {
                        verdict.push(format!("recovery over {} ms", p.recover_bound()));
                        v.timing.push(format!("#{} {} on {}: recovered after {r} ms", n + 1, f.kind.label(), f.target));
                    }
                    if !o.flaps.is_empty() {
                        verdict.push(format!("FLAPPING: {}", o.flaps.join("; ")));
                        v.hard.push(format!("#{} {} on {}: {}", n + 1, f.kind.label(), f.target, o.flaps.join("; ")));
                    }
                }
                Expect::Quiet => {
                    if !o.noise.is_empty() {
                        verdict.push(format!("NOISE: {}", o.noise.join("; ")));
                        v.hard.push(format!(
                            "#{} {} on {}: events for a fault that should make none: {}",
                            n + 1,
                            f.kind.label(),
                            f.target,
                            o.noise.join("; ")
                        ));
                    }
                }
            }
            // What the model showed of the server meanwhile: the slowest probe, the rates.
            let shown: Vec<&Inst> = self
                .statuses
                .iter()
                .filter(|s| s.t >= f.injected && s.t <= f.cleared + p.interval_ms)
                .flat_map(|s| s.instances.iter().filter(|i| i.addr == f.addr))
                .collect();
            let slowest = shown.iter().filter_map(|i| i.probe_ms).fold(0.0f64, f64::max);
            let qps: Vec<f64> = shown.iter().filter_map(|i| i.qps).collect();
            match f.kind {
                Kind::Slow => verdict.push(format!("slowest probe {slowest:.0} ms")),
                Kind::FlushStatus => {
                    let (lo, hi) = qps.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &q| (lo.min(q), hi.max(q)));
                    if !qps.is_empty() {
                        verdict.push(format!("QPS {lo:.0}–{hi:.0}"));
                    }
                    if lo < 0.0 || hi > 1e6 {
                        v.hard.push(format!("#{} FLUSH STATUS on {}: QPS shown {lo}–{hi}", n + 1, f.target));
                    }
                }
                _ => {}
            }
            let _ = writeln!(
                md,
                "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
                n + 1,
                (f.injected - p.started) as f64 / 1000.0,
                f.shard,
                f.kind.label(),
                f.target,
                f.cleared - f.injected,
                fmt_opt(o.detect_ms),
                fmt_opt(o.recover_ms),
                if o.raised.is_empty() { "–".to_string() } else { o.raised.join(", ") },
                if verdict.is_empty() { "ok".to_string() } else { verdict.join("; ") },
            );
        }
        // Events no fault explains.
        let stray = unexplained(self.faults, self.events);
        let _ = writeln!(md, "\n## Events no fault explains: {}\n", stray.len());
        for e in &stray {
            let _ = writeln!(
                md,
                "- {:.1} s {} {} {}: {}",
                (e.t - p.started) as f64 / 1000.0,
                e.shard,
                e.severity,
                e.rule,
                e.message
            );
            v.hard.push(format!("an event no fault explains: {} {} {}: {}", e.shard, e.severity, e.rule, e.message));
        }
        // Freshness of the shards without a fault, and whether every server kept being probed.
        let mut stale_max = 0i64;
        let mut stale_at = String::new();
        let mut unprobed_max = 0i64;
        let mut discovered = std::collections::BTreeSet::new();
        for s in self.statuses.iter().filter(|s| s.t >= p.started) {
            for i in &s.instances {
                if i.discovered {
                    discovered.insert(i.addr.clone());
                }
                if !self.quiet_shard(&i.shard, s.t, &outcomes) {
                    continue;
                }
                if let Some(a) = i.age_ms.filter(|&a| a > stale_max) {
                    stale_max = a;
                    stale_at = format!("{} at {:.1} s", i.addr, (s.t - p.started) as f64 / 1000.0);
                }
                unprobed_max = unprobed_max.max(i.probed_ms.unwrap_or(0));
            }
        }
        let fresh_bound = p.interval_ms + p.timeout_ms;
        let _ = writeln!(
            md,
            "\n## Shards without a fault\n\nOldest data shown: {stale_max} ms ({stale_at}); longest time without a probe \
             result: {unprobed_max} ms (bound: interval + timeout = {fresh_bound} ms).\n"
        );
        if stale_max > fresh_bound {
            v.timing.push(format!("data of a shard without a fault was {stale_max} ms old ({stale_at})"));
        }
        if unprobed_max > 10 * fresh_bound {
            v.hard.push(format!(
                "a server of a shard without a fault went {unprobed_max} ms without a probe result: a stuck task"
            ));
        }
        if !discovered.is_empty() {
            let list: Vec<String> = discovered.into_iter().collect();
            let _ = writeln!(
                md,
                "Servers discovery added (each is already in the config under another name): {}\n",
                list.join(", ")
            );
            v.hard.push(format!("discovery added servers the config names under another address: {}", list.join(", ")));
        }
        // The process.
        let _ = writeln!(md, "## The watcher process\n");
        if let (Some(a), Some(b)) = (self.res.first(), self.res.last()) {
            let _ = writeln!(
                md,
                "Measured from /proc every second over {:.0} s (faults from {:.0} s to {:.0} s after warm-up).\n",
                (b.t - a.t) as f64 / 1000.0,
                0.0,
                (p.ended - p.started) as f64 / 1000.0
            );
        }
        match (self.res.first(), self.res.last()) {
            (Some(a), Some(b)) => {
                let half = self.res.len() / 2;
                let per_probe = |x: &Res, y: &Res| {
                    let n = y.samples.saturating_sub(x.samples);
                    (n > 0).then(|| (y.cpu_ms.saturating_sub(x.cpu_ms)) as f64 * 1000.0 / n as f64)
                };
                let first = per_probe(a, &self.res[half]);
                let second = per_probe(&self.res[half], b);
                let max = |f: fn(&Res) -> u64| self.res.iter().map(f).max().unwrap_or(0);
                let _ = writeln!(md, "| | after warm-up | at the end | growth | max |");
                let _ = writeln!(md, "|---|---:|---:|---:|---:|");
                let row = |md: &mut String, name: &str, f: fn(&Res) -> u64| {
                    let _ =
                        writeln!(md, "| {name} | {} | {} | {:+} | {} |", f(a), f(b), f(b) as i64 - f(a) as i64, max(f));
                };
                row(&mut md, "RSS (KiB)", |r| r.rss_kb);
                row(&mut md, "open sockets", |r| r.sockets);
                row(&mut md, "open files", |r| r.fds);
                row(&mut md, "threads", |r| r.threads);
                let _ = writeln!(
                    md,
                    "\nCPU per probe result: {} µs in the first half, {} µs in the second ({} probe results, {} ms CPU).\n",
                    first.map_or("–".into(), |x| format!("{x:.0}")),
                    second.map_or("–".into(), |x| format!("{x:.0}")),
                    b.samples.saturating_sub(a.samples),
                    b.cpu_ms.saturating_sub(a.cpu_ms),
                );
            }
            _ => {
                let _ = writeln!(md, "No measurements.\n");
            }
        }
        let _ = writeln!(md, "\n## The event stream\n");
        for e in self.events.iter().filter(|e| e.t >= p.started) {
            let _ = writeln!(
                md,
                "- +{:.2} s {} {} {}: {}",
                (e.t - p.started) as f64 / 1000.0,
                e.shard,
                e.severity,
                e.rule,
                e.message
            );
        }
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "Exit: {}. Panics: {}.",
            self.exit,
            if self.panics.is_empty() { "none".to_string() } else { self.panics.join(" | ") }
        );
        v.hard.extend(self.panics.iter().map(|p| format!("the watcher panicked: {p}")));
        (md, v)
    }
}

fn fmt_opt(v: Option<i64>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, severity: &str, rule: &str, message: &str) -> Ev {
        Ev { t, shard: "s51".into(), severity: severity.into(), rule: rule.into(), message: message.into() }
    }

    fn fault(kind: Kind) -> Fault {
        Fault {
            kind,
            shard: "s51".into(),
            target: "s51-r1".into(),
            addr: "127.0.0.1:5".into(),
            injected: 1000,
            cleared: 5000,
            window_end: 20_000,
        }
    }

    #[test]
    fn a_fault_is_detected_recovered_and_flaps_are_named() {
        let events = vec![
            ev(500, "critical", "unreachable", "127.0.0.1:5 unreachable: before"),
            ev(2500, "critical", "unreachable", "127.0.0.1:5 unreachable: timeout"),
            ev(2600, "warning", "lag", "127.0.0.1:6 lag 12s"),
            ev(6000, "ok", "unreachable", "127.0.0.1:5 recovered (was: …)"),
        ];
        let o = judge(&fault(Kind::FreezeReplica), &events);
        assert_eq!((o.detect_ms, o.recover_ms), (Some(1500), Some(1000)));
        assert!(o.flaps.is_empty(), "{:?}", o.flaps);
        assert_eq!(o.raised, ["unreachable@127.0.0.1:5"]);
        assert!(o.flaps.is_empty() && o.unrecovered.is_empty());
        let mut flapping = events.clone();
        flapping.push(ev(7000, "critical", "unreachable", "127.0.0.1:5 unreachable: again"));
        let o = judge(&fault(Kind::FreezeReplica), &flapping);
        assert_eq!(o.unrecovered, ["unreachable@127.0.0.1:5"]);
        assert_eq!(o.flaps.len(), 1, "{:?}", o.flaps);
        assert_eq!(o.recover_ms, None);
        // The master's faults own the whole shard's events; its verdict is one finding.
        let o = judge(&fault(Kind::FreezeMaster), &events);
        assert_eq!(o.raised.len(), 2);
        let verdict = vec![
            ev(2000, "critical", "master_unreachable", "127.0.0.1:5 master unreachable (1 failed probe)"),
            ev(2200, "critical", "master_dead", "127.0.0.1:5 master dead"),
            ev(6000, "ok", "master_dead", "127.0.0.1:5 recovered (was: master dead)"),
        ];
        let o = judge(&fault(Kind::RestartMaster), &verdict);
        assert_eq!((o.raised.len(), o.flaps.len(), o.recover_ms), (1, 0, Some(1000)));
        // A quiet fault's events are noise.
        let o = judge(&fault(Kind::KillConnections), &events);
        assert_eq!(o.noise.len(), 3);
        assert_eq!(judge(&fault(Kind::KillConnections), &[]).noise.len(), 0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn events_outside_every_window_are_unexplained() {
        let events = vec![ev(500, "critical", "x", "a b"), ev(1500, "critical", "x", "a b")];
        let stray = unexplained(&[fault(Kind::StopSlave)], &events);
        assert_eq!(stray.len(), 1);
        assert_eq!(stray[0].t, 500);
    }
}
