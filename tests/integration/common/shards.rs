//! Which sandbox shards each test module may use. The modules run their tests in parallel on one
//! sandbox, and most of them break, stop, kill or promote servers on purpose: each does that only to
//! shards of its own, so no test sees another's damage. The harness checks this table (no shard in
//! two modules) and every use of a shard against it (`Sandbox` hands out a shard's servers only to
//! the module that owns it).

/// The sandbox `scripts/test` starts: s1…s60 (`scripts/sandbox up --shards 60`).
pub const SANDBOX_SHARDS: usize = 60;

/// Read by every module and disturbed by none: a healthy shard to compare against.
pub const SHARED: &[&str] = &["s1"];

/// Test module (its name under `tests/integration/`) → the shards it owns.
pub const OWNERS: &[(&str, &[&str])] = &[
    // One breakage each: SQL thread and duplicate key, writable replica, SIGSTOP, heartbeat, killed master.
    ("sandbox", &["s2", "s3", "s4", "s5", "s6"]),
    // s11 is s12's upstream "global" master; s13 runs file:pos; s14 loses its candidate mid-run;
    // s21–s24 the interrupted promotions and the open transaction; s25 the interrupted file:pos one.
    ("promote", &["s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s21", "s22", "s23", "s24", "s25"]),
    // s15 the million rows; s28 the edge-case corpus (latin1 server default); s29 Ctrl-C with a stopped
    // replica; s59 --resume on a key holding commas; s60 --method table on file:position replicas.
    ("checksum", &["s15", "s28", "s29", "s59", "s60"]),
    // In one test, since s17's stray replica hangs off s16's master.
    ("topology", &["s16", "s17"]),
    // s18 takes the generated load; s19 is SIGSTOPped.
    ("rates_feed", &["s18", "s19"]),
    // The shard scripts/test gives mysqld_exporter and Prometheus (`metrics up --only s20`).
    ("prometheus", &["s20"]),
    // A SIGKILLed master (s26) and a SIGSTOPped one (s27), judged by the model.
    ("failover_model", &["s26", "s27"]),
    // Issue 17: s30 promoted for real and back, s31 read and heartbeated, s32 read with a wrong
    // password.
    ("secrets", &["s30", "s31", "s32"]),
    // The shard `scripts/sandbox up --tls --tls-shard 33` starts with require_secure_transport=ON.
    ("tls", &["s33"]),
    // Masters SIGKILLed (s34 semi-sync, s35 a replica lagging, s37 a failing fence, s38 a wanted
    // candidate behind, s39 both replicas behind) or SIGSTOPped (s36), then failed over; s40 is
    // s34's global upstream.
    ("failover", &["s34", "s35", "s36", "s37", "s38", "s39", "s40"]),
    // `shardtop serve`: s44 has a replica's SQL thread stopped and started (seen through Prometheus);
    // s45 is read; s46 is read with a wrong password, promoted and back remotely, and a replica
    // fenced through the viewer-side runner; s47 is configured only, broken (partitions), a replica
    // fenced remotely, and its master SIGKILLed, failed over remotely, rejoined and promoted back.
    ("serve", &["s44", "s45", "s46", "s47"]),
    // Issue 17 §1: the fault-injection soak (every shard takes faults; r1 behind a proxy, r2 by name).
    ("soak", &["s51", "s52", "s53", "s54"]),
    // Issue 17 §5: promotions killed after each step in turn, then finished (s55); s56 a replica
    // down during a switch, the failover matrix, and a failover killed after its catch-up.
    ("crash", &["s55", "s56"]),
    // Issue 16: s48 a stopped SQL thread (fires, resolves), s49 a flap shorter than `for`, s50 an
    // Alertmanager restart while its alerts change.
    ("alerts", &["s48", "s49", "s50"]),
    // Read only: the kiosk wall with application panels and deploy markers (issue 19).
    ("wall", &["s57", "s58"]),
    // Issue 15: a fault sequence recorded (s41 SQL thread stopped, s42 lagging, s43 promoted and
    // back); s41 again for retention.
    ("record", &["s41", "s42", "s43"]),
    // Free for new modules: none (s1–s60 are all owned; add shards to scripts/test first).
];

/// What a test does with a shard: only reading is allowed on the shared ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Addresses, configs for the monitoring account, queries that change nothing.
    Read,
    /// Statements as admin, signals, configs for the admin account.
    Disturb,
}

/// The test module of a `module_path!()`: `integration::promote::helpers` → `promote`.
pub fn module_name(module_path: &'static str) -> &'static str {
    module_path.split("::").nth(1).unwrap_or(module_path)
}

/// The shard of an instance name: `s15-r2` → `s15` (a shard name is its own shard).
pub fn shard_of(instance: &str) -> &str {
    instance.split('-').next().unwrap_or(instance)
}

/// The table's own mistakes: a shard owned twice, shared and owned, or not in the sandbox.
pub fn check_table(shared: &[&str], owners: &[(&str, &[&str])], sandbox_shards: usize) -> Result<(), String> {
    let in_sandbox = |s: &str| {
        s.strip_prefix('s').and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| (1..=sandbox_shards).contains(&n))
    };
    let mut claimed: Vec<(&str, String)> = shared.iter().map(|s| (*s, "the shared shards".to_string())).collect();
    for (module, shards) in owners {
        for shard in *shards {
            if let Some((_, first)) = claimed.iter().find(|(s, _)| s == shard) {
                return Err(format!("shard {shard} has two owners: {first} and `{module}`"));
            }
            claimed.push((shard, format!("`{module}`")));
        }
    }
    match claimed.iter().find(|(s, _)| !in_sandbox(s)) {
        Some((s, owner)) => Err(format!("{s} (of {owner}) is not in the sandbox, which has s1…s{sandbox_shards}")),
        None => Ok(()),
    }
}

/// Whether the tests of `module` may use `instance` (or a whole shard) as `how`; the error says
/// whose shard it is and what to do.
pub fn check_use(
    shared: &[&str],
    owners: &[(&str, &[&str])],
    module: &str,
    instance: &str,
    how: Use,
) -> Result<(), String> {
    let shard = shard_of(instance);
    if shared.contains(&shard) {
        return match how {
            Use::Read => Ok(()),
            Use::Disturb => Err(format!(
                "`{module}` would disturb {instance}, but {shard} is shared: every module reads it and none may \
                 change it; use a shard of `{module}`'s own (tests/integration/common/shards.rs)"
            )),
        };
    }
    match owners.iter().find(|(_, shards)| shards.contains(&shard)) {
        Some((owner, _)) if *owner == module => Ok(()),
        Some((owner, _)) => Err(format!(
            "`{module}` used {instance}, but {shard} belongs to `{owner}`: a module uses only its own shards, \
             so that parallel tests never see each other's damage (tests/integration/common/shards.rs)"
        )),
        None => Err(format!(
            "`{module}` used {instance}, but no module owns {shard}: give it to `{module}` in OWNERS \
             (tests/integration/common/shards.rs)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        assert_eq!(check_table(SHARED, OWNERS, SANDBOX_SHARDS), Ok(()));
    }

    #[test]
    fn a_shard_has_one_owner() {
        let e = check_table(&["s1"], &[("a", &["s2"]), ("b", &["s3", "s2"])], 25).unwrap_err();
        assert_eq!(e, "shard s2 has two owners: `a` and `b`");
        let e = check_table(&["s1"], &[("a", &["s1"])], 25).unwrap_err();
        assert_eq!(e, "shard s1 has two owners: the shared shards and `a`");
        let e = check_table(&["s1"], &[("a", &["s26"])], 25).unwrap_err();
        assert_eq!(e, "s26 (of `a`) is not in the sandbox, which has s1…s25");
    }

    #[test]
    fn a_module_gets_only_its_own_shards() {
        let owners: &[(&str, &[&str])] = &[("promote", &["s7"]), ("checksum", &["s15"])];
        let check = |module, instance, how| check_use(&["s1"], owners, module, instance, how);
        assert_eq!(check("promote", "s7-r1", Use::Disturb), Ok(()));
        assert_eq!(check("promote", "s7", Use::Read), Ok(()));
        assert_eq!(check("checksum", "s1-m", Use::Read), Ok(()), "everyone reads the shared shard");
        let e = check("checksum", "s1-m", Use::Disturb).unwrap_err();
        assert!(e.contains("`checksum` would disturb s1-m, but s1 is shared"), "{e}");
        let e = check("promote", "s15-m", Use::Read).unwrap_err();
        assert!(e.contains("`promote` used s15-m, but s15 belongs to `checksum`"), "{e}");
        let e = check("cli", "s7", Use::Read).unwrap_err();
        assert!(e.contains("s7 belongs to `promote`"), "a module without shards gets none: {e}");
        let e = check("promote", "s9-m", Use::Read).unwrap_err();
        assert!(e.contains("no module owns s9"), "{e}");
    }

    #[test]
    fn names_are_read_as_the_harness_sees_them() {
        assert_eq!(module_name("integration::promote"), "promote");
        assert_eq!(module_name("integration::promote::helpers"), "promote");
        assert_eq!(shard_of("s15-r2"), "s15");
        assert_eq!(shard_of("s15"), "s15");
    }
}
