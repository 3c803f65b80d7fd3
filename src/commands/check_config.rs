//! `shardtop check-config`: the file, the theme and the keymap validated, then each server (or
//! metrics source) asked once with the monitoring account.

use super::{CmdResult, load_config, metrics_clients};
use crate::cli::Cli;
use crate::config::{self, Config};
use crate::poll;
use crate::setup::{close_all, is_metrics_only, layout, probe_options, probers};
use crate::ui::theme::ThemeLoader;

pub async fn check_config(cli: &Cli, offline: bool) -> CmdResult {
    let path_hint = cli.config.path.clone().or_else(config::default_path);
    let loaded = match load_config(cli, 1) {
        Ok(l) => l,
        Err(e) => {
            println!("{e}");
            return Ok(1);
        }
    };
    for w in &loaded.warnings {
        println!("{w}");
    }
    let cfg = loaded.config;
    // The theme and the keymap file are part of the setup: a broken one would stop the TUI.
    if let Err(e) = ThemeLoader::system().load(&cfg.ui.theme) {
        println!("{e}");
        return Ok(1);
    }
    match config::keymap_path().map(|p| config::load_keymap(&p)).transpose() {
        Err(e) => {
            println!("{e}");
            return Ok(1);
        }
        Ok(found) => found.into_iter().flat_map(|(_, warnings)| warnings).for_each(|w| println!("{w}")),
    }
    let servers: usize = cfg.shards.iter().map(|s| 1 + s.replicas.len()).sum();
    if is_metrics_only(&cfg) {
        println!(
            "{}: ok: {} shards, metrics-only (no database user: no server is contacted), {} metrics source(s)",
            path_hint.map_or_else(|| "config".into(), |p| p.display().to_string()),
            cfg.shards.len(),
            cfg.metrics.len()
        );
        if offline {
            return Ok(0);
        }
        return check_sources(&cfg).await;
    }
    println!(
        "{}: ok: {} shards, {} servers, user {} (password from {})",
        path_hint.map_or_else(|| "config".into(), |p| p.display().to_string()),
        cfg.shards.len(),
        servers,
        cfg.defaults.user,
        cfg.defaults.password_source
    );
    if offline {
        return Ok(0);
    }
    let opts = probe_options(&cfg);
    let needs = crate::probe::grants::Needs::of(&cfg);
    let shards = layout(&cfg);
    let mut probes = probers(&shards, &opts);
    let mut results = poll::sweep_once(&mut probes, cfg.poll.concurrency).await;
    close_all(&mut probes).await;
    results.sort_by_key(|u| (u.slot.shard, u.slot.instance));
    let mut failures = 0;
    // A read-only dashboard should not carry a key that can drop a shard (least privilege).
    if cfg.actions.enabled && !cfg.actions.user.is_empty() && cfg.actions.user == cfg.defaults.user {
        println!(
            "warning: the admin account for actions ({}) is also the monitoring account: give watching an \
             account of its own with the monitoring grants only",
            cfg.actions.user
        );
    }
    for u in results {
        let s = &shards[u.slot.shard];
        let addr = &s.instances[u.slot.instance].addr;
        match u.sample.result {
            Ok(st) => {
                let mut line = format!("  ok    {} {addr}: {} {}", s.name, st.flavor.name(), st.version);
                match crate::probe::grants::check(addr, &opts, &needs).await {
                    Ok(report) => {
                        if !report.beyond.is_empty() {
                            line.push_str(&format!(
                                "; warning: the monitoring account {} can do more than watch: {} (it needs only \
                                 the monitoring grants: REPLICATION CLIENT / SLAVE MONITOR, BINLOG MONITOR, PROCESS, \
                                 SELECT on the heartbeat and feed tables)",
                                cfg.defaults.user,
                                report.beyond.join(", ")
                            ));
                        }
                        line.push_str(&missing_note(&report.missing));
                    }
                    Err(e) => line.push_str(&format!("; note: its grants could not be read ({e})")),
                }
                if let Some(e) = &st.heartbeat_error {
                    line.push_str(&format!("; heartbeat: {e}"));
                    failures += 1;
                }
                // A shard that leaves its replicas to discovery needs the replica list to name them.
                let refused = st.topo.discovery.as_ref().is_some_and(|d| d.replica_hosts.is_none());
                if s.instances.len() == 1 && refused {
                    let grant = match st.flavor {
                        crate::fleet::status::Flavor::MariaDb => "REPLICATION MASTER ADMIN",
                        crate::fleet::status::Flavor::MySql => "REPLICATION SLAVE",
                    };
                    line.push_str(&format!(
                        "; note: SHOW REPLICA HOSTS refused, so replicas are seen by host only: grant {grant} \
                         to discover them, or list them under replicas"
                    ));
                }
                println!("{line}");
            }
            Err(e) => {
                failures += 1;
                // Connected but refused a statement: every privilege it lacks, not only the first.
                let missing = match e.kind {
                    crate::fleet::status::ProbeErrorKind::Query => crate::probe::grants::check(addr, &opts, &needs)
                        .await
                        .map(|r| missing_note(&r.missing))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                println!("  FAIL  {} {addr}: {e}{missing}", s.name);
            }
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

/// `; missing: SLAVE MONITOR (…), SELECT on percona.heartbeat (…)`, or nothing. The replica list's
/// privilege is left to the note made from the server's own answer (a shard that lists its
/// replicas does not need it).
fn missing_note(missing: &[crate::probe::grants::Missing]) -> String {
    let named: Vec<String> = missing.iter().filter(|m| !m.replica_list).map(ToString::to_string).collect();
    if named.is_empty() { String::new() } else { format!("; missing: {}", named.join(", ")) }
}

/// Asks each `[[metrics]]` source once and says what it answered.
async fn check_sources(cfg: &Config) -> CmdResult {
    let clients = metrics_clients(cfg)?;
    let mut failures = 0;
    for (c, _) in &clients {
        let u = c.poll().await;
        let name = &c.config().name;
        match &u.error {
            Some(e) => {
                failures += 1;
                println!("  FAIL  {name}: {e}");
            }
            None => {
                let shards: std::collections::BTreeSet<usize> = u.values.iter().map(|v| v.0).collect();
                println!(
                    "  ok    {name}: {} values for {} of {} shards",
                    u.values.len(),
                    shards.len(),
                    cfg.shards.len()
                );
                for n in &u.notes {
                    println!("        note: {n}");
                }
            }
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}
