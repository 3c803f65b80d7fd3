//! The model in the Prometheus text exposition format (version 0.0.4): one gauge family per
//! figure, labelled by `shard` and `instance` (host:port) as mysqld_exporter users expect.
//! Only figures the model has are written: an unknown lag is an absent series, never a 0.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::fleet::status::IoState;
use crate::fleet::{Fleet, Health, Role, Shard};

/// The content type Prometheus asks for and understands.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `shardtop_shard_health` and `shardtop_instance_health`: 0 ok, 1 warning, 2 critical, 3 unknown.
pub fn health_value(h: Health) -> i32 {
    h.exit_code()
}

/// The collector's own figures, beside the model's.
pub struct Process {
    pub sweeps: u64,
    /// Seconds since the last sweep closed.
    pub since_last_sweep: Option<f64>,
}

/// Every family, with its HELP and TYPE, in a fixed order.
pub fn render(fleet: &Fleet, now: DateTime<Utc>, process: &Process) -> String {
    // About 1 kB per instance: one allocation for a big fleet's whole answer.
    let mut out = String::with_capacity(512 + fleet.instance_count() * 1024);
    let w = &mut out;
    family(w, "shardtop_build_info", "gauge", "Version of the shardtop collector.");
    sample(w, "shardtop_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    family(w, "shardtop_sweeps_total", "counter", "Sweeps the collector has closed (one per poll interval).");
    sample(w, "shardtop_sweeps_total", &[], process.sweeps as f64);
    if let Some(s) = process.since_last_sweep {
        family(w, "shardtop_last_sweep_age_seconds", "gauge", "Seconds since the collector last closed a sweep.");
        sample(w, "shardtop_last_sweep_age_seconds", &[], s);
    }

    family(w, "shardtop_shard_health", "gauge", "Shard health: 0 ok, 1 warning, 2 critical, 3 unknown.");
    for s in &fleet.shards {
        sample(w, "shardtop_shard_health", &[("shard", &s.name)], f64::from(health_value(s.health)));
    }
    family(w, "shardtop_shard_replicas_up", "gauge", "Replicas of the shard that answer with both threads running.");
    for s in &fleet.shards {
        sample(w, "shardtop_shard_replicas_up", &[("shard", &s.name)], s.replicas_up() as f64);
    }
    family(w, "shardtop_shard_replicas", "gauge", "Replicas the shard has (configured and discovered).");
    for s in &fleet.shards {
        let n = s.replicas().iter().filter(|i| !i.gone).count();
        sample(w, "shardtop_shard_replicas", &[("shard", &s.name)], n as f64);
    }

    instances(w, fleet, now);
    feed(w, fleet);
    anomalies(w, fleet);
    out
}

/// Each instance's figures; `gone` servers (discovered, then vanished) are left out.
fn instances(w: &mut String, fleet: &Fleet, now: DateTime<Utc>) {
    let each = |w: &mut String, f: &dyn Fn(&mut String, &Shard, &crate::fleet::Instance, &str)| {
        for s in &fleet.shards {
            for i in s.instances.iter().filter(|i| !i.gone) {
                f(w, s, i, &i.addr.to_string());
            }
        }
    };
    family(w, "shardtop_instance_up", "gauge", "1 when the last probe of the server answered, else 0.");
    each(w, &|w, s, i, addr| {
        let role = match i.role {
            Role::Master => "master",
            Role::Replica => "replica",
        };
        let up = if i.reachable() { 1.0 } else { 0.0 };
        sample(w, "shardtop_instance_up", &[("shard", &s.name), ("instance", addr), ("role", role)], up);
    });
    family(w, "shardtop_instance_health", "gauge", "Server health: 0 ok, 1 warning, 2 critical, 3 unknown.");
    each(w, &|w, s, i, addr| {
        let v = f64::from(health_value(i.health));
        sample(w, "shardtop_instance_health", &[("shard", &s.name), ("instance", addr)], v);
    });
    family(w, "shardtop_instance_read_only", "gauge", "1 when the server is read_only, 0 when writable.");
    each(w, &|w, s, i, addr| {
        if let Some(st) = i.status.as_ref().filter(|_| i.reachable()) {
            let v = if st.read_only { 1.0 } else { 0.0 };
            sample(w, "shardtop_instance_read_only", &[("shard", &s.name), ("instance", addr)], v);
        }
    });
    family(
        w,
        "shardtop_replication_lag_seconds",
        "gauge",
        "Replication lag of the primary link: source=\"heartbeat\" (pt-heartbeat) or \"sbm\" (Seconds_Behind_Master).",
    );
    each(w, &|w, s, i, addr| {
        let Some(st) = i.status.as_ref().filter(|_| i.reachable()) else { return };
        if st.primary_link().is_none() {
            return;
        }
        if let Some(sbm) = st.primary_link().and_then(|l| l.seconds_behind) {
            let labels = [("shard", s.name.as_str()), ("instance", addr), ("source", "sbm")];
            sample(w, "shardtop_replication_lag_seconds", &labels, sbm as f64);
        }
        if let Some(hb) = st.heartbeat_lag {
            let labels = [("shard", s.name.as_str()), ("instance", addr), ("source", "heartbeat")];
            sample(w, "shardtop_replication_lag_seconds", &labels, hb);
        }
    });
    family(
        w,
        "shardtop_replication_thread_running",
        "gauge",
        "1 when the replication thread runs (io: connected to its source), else 0.",
    );
    each(w, &|w, s, i, addr| {
        let Some(link) = i.status.as_ref().filter(|_| i.reachable()).and_then(|st| st.primary_link()) else {
            return;
        };
        let io = if link.io_state == IoState::Running { 1.0 } else { 0.0 };
        let sql = if link.sql_running { 1.0 } else { 0.0 };
        let source = link.source.to_string();
        let labels = |thread| [("shard", s.name.as_str()), ("instance", addr), ("thread", thread), ("source", &source)];
        sample(w, "shardtop_replication_thread_running", &labels("io"), io);
        sample(w, "shardtop_replication_thread_running", &labels("sql"), sql);
    });
    family(w, "shardtop_queries_per_second", "gauge", "Queries per second on the server, from its counters.");
    each(w, &|w, s, i, addr| {
        if let Some(q) = i.qps {
            sample(w, "shardtop_queries_per_second", &[("shard", &s.name), ("instance", addr)], q);
        }
    });
    family(w, "shardtop_probe_duration_seconds", "gauge", "How long the last probe of the server took.");
    each(w, &|w, s, i, addr| {
        if let Some(ms) = i.probe_ms {
            sample(w, "shardtop_probe_duration_seconds", &[("shard", &s.name), ("instance", addr)], ms / 1000.0);
        }
    });
    family(
        w,
        "shardtop_last_sample_age_seconds",
        "gauge",
        "Seconds since the server last answered a probe (absent before its first answer).",
    );
    each(w, &|w, s, i, addr| {
        if let Some(age) = i.age(now) {
            sample(w, "shardtop_last_sample_age_seconds", &[("shard", &s.name), ("instance", addr)], age);
        }
    });
}

/// Feed latency percentiles per shard and for the whole fan-out, in seconds.
fn feed(w: &mut String, fleet: &Fleet) {
    let name = "shardtop_feed_latency_seconds";
    family(
        w,
        name,
        "gauge",
        "Feed probe latency over the probe's window, by quantile (shard=\"\" is the whole fan-out's slowest shard).",
    );
    let stats = fleet.shards.iter().map(|s| (s.name.as_str(), &s.feed)).chain([("", &fleet.fanout)]);
    for (shard, f) in stats {
        let Some(sum) = f.summary else { continue };
        for (q, v) in [("0.5", sum.p50), ("0.95", sum.p95), ("0.99", sum.p99)] {
            if !v.is_nan() {
                sample(w, name, &[("shard", shard), ("quantile", q)], v / 1000.0);
            }
        }
    }
}

/// One series per finding the model holds now: value 1, its rule and severity as labels.
fn anomalies(w: &mut String, fleet: &Fleet) {
    family(
        w,
        "shardtop_anomaly",
        "gauge",
        "A finding that holds now (1), by rule and severity; instance=\"\" for shard-wide ones.",
    );
    for s in &fleet.shards {
        for p in s.all_problems() {
            if p.severity == Health::Ok {
                continue;
            }
            let instance = p.instance.as_ref().map(ToString::to_string).unwrap_or_default();
            let labels = [
                ("shard", s.name.as_str()),
                ("instance", &instance),
                ("rule", p.rule),
                ("severity", severity(p.severity)),
            ];
            sample(w, "shardtop_anomaly", &labels, 1.0);
        }
    }
}

fn severity(h: Health) -> &'static str {
    match h {
        Health::Ok => "ok",
        Health::Warning => "warning",
        Health::Critical => "critical",
        Health::Unknown => "unknown",
    }
}

fn family(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}");
    let _ = writeln!(w, "# TYPE {name} {kind}");
}

fn sample(w: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    w.push_str(name);
    if !labels.is_empty() {
        w.push('{');
        for (k, (l, v)) in labels.iter().enumerate() {
            if k > 0 {
                w.push(',');
            }
            w.push_str(l);
            w.push_str("=\"");
            escape_label(w, v);
            w.push('"');
        }
        w.push('}');
    }
    w.push(' ');
    if value.is_finite() {
        let _ = write!(w, "{value}");
    } else if value.is_nan() {
        w.push_str("NaN");
    } else if value > 0.0 {
        w.push_str("+Inf");
    } else {
        w.push_str("-Inf");
    }
    w.push('\n');
}

/// Label values escape backslash, double quote and newline.
fn escape_label(w: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => w.push_str("\\\\"),
            '"' => w.push_str("\\\""),
            '\n' => w.push_str("\\n"),
            c => w.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tests::{fleet, sample as probe};

    fn rendered(sql_ok: bool) -> String {
        let mut f = fleet();
        let now = Utc::now();
        for (s, i) in [(0, 0), (0, 1)] {
            let u = probe(s, i, now, sql_ok);
            f.apply(u.slot.shard, u.slot.instance, u.sample);
        }
        render(&f, now, &Process { sweeps: 3, since_last_sweep: Some(0.5) })
    }

    #[test]
    fn a_stopped_sql_thread_is_0_and_its_lag_is_absent() {
        let text = rendered(false);
        assert!(
            text.contains(
                "shardtop_replication_thread_running{shard=\"s1\",instance=\"db-b:3306\",thread=\"sql\",source=\"db-a:3306\"} 0\n"
            ),
            "{text}"
        );
        assert!(text.contains("thread=\"io\",source=\"db-a:3306\"} 1\n"), "{text}");
        // SBM is NULL while the SQL thread is stopped: no series, not a 0.
        assert!(!text.contains("shardtop_replication_lag_seconds{"), "{text}");
        assert!(text.contains("shardtop_shard_health{shard=\"s1\"} 2\n"), "{text}");
        assert!(text.contains("rule=\"sql_thread\",severity=\"critical\""), "{text}");
        assert!(text.contains("shardtop_instance_up{shard=\"s1\",instance=\"db-a:3306\",role=\"master\"} 1\n"));
        assert!(text.contains("shardtop_sweeps_total 3\n"));
    }

    #[test]
    fn a_healthy_replica_has_its_lag_and_both_threads() {
        let text = rendered(true);
        assert!(text.contains("instance=\"db-b:3306\",source=\"sbm\"} 0\n"), "{text}");
        assert!(text.contains("thread=\"sql\",source=\"db-a:3306\"} 1\n"), "{text}");
        assert!(text.contains("shardtop_probe_duration_seconds{shard=\"s1\",instance=\"db-a:3306\"} 0.003\n"));
        assert!(!text.contains("shardtop_anomaly{"), "{text}");
    }

    #[test]
    fn every_family_has_help_and_type_and_every_line_parses() {
        for line in rendered(false).lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                assert!(rest.starts_with("HELP shardtop_") || rest.starts_with("TYPE shardtop_"), "{line}");
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            assert!(series.starts_with("shardtop_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut w = String::new();
        sample(&mut w, "m", &[("a", "x\"y\\z\nw")], 1.0);
        assert_eq!(w, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }
}
