//! No input from outside makes shardtop panic (issue 17 §4): property tests over everything a
//! server, a metrics source or a file hands it. Each target runs `SHARDTOP_FUZZ_CASES` cases
//! (a few hundred in the normal suite; `scripts/fuzz` runs a million each, in release). The
//! config and keymap files have their own targets in `config::fuzz_tests`.
//!
//! A panic found here becomes a named regression test next to the code it fixed.

use std::borrow::Cow;

use proptest::prelude::*;

use crate::config::fuzz_tests::{config, edit, mutate};
use crate::fleet::status::{InstanceStatus, Sample};
use crate::fleet::{Addr, Fleet, Limits, Shard};
use crate::mysql::Flavor;
use crate::mysql::gtid::{GtidSet, History, MariaGtidList, errant_in_binlog_state};
use crate::probe::parse::{self, RowMap};

/// Every column and variable name the probe's parsers know: the quoted identifiers of their source.
fn known_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for src in [include_str!("probe/columns.rs"), include_str!("probe/parse.rs"), include_str!("probe/mod.rs")] {
        for (k, part) in src.split('"').enumerate() {
            if k % 2 == 1
                && !part.is_empty()
                && part.len() < 64
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !names.contains(&part)
            {
                names.push(part);
            }
        }
    }
    names
}

/// Values a server (or a broken proxy) might send: numbers of every size and sign, the words
/// the parsers look for, GTID-like text, garbage.
fn value() -> impl Strategy<Value = Option<String>> {
    let v = prop_oneof![
        any::<String>(),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just(String::new()),
        Just("NULL".to_string()),
        prop::sample::select(vec!["Yes", "No", "Connecting", "ON", "OFF", "1", "0", "Slave_Pos", "Current_Pos", "No"])
            .prop_map(str::to_string),
        "[0-9a-fA-F:,\\- ]{0,60}",
        "[0-9]{1,22}-[0-9]{1,22}-[0-9]{1,22}",
        "127\\.0\\.0\\.1|db[0-9]|::1|[a-z.\\-]{0,20}",
    ];
    prop::option::weighted(0.85, v)
}

fn row() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    let names = known_names();
    let name = prop_oneof![
        4 => prop::sample::select(names).prop_map(str::to_string),
        1 => prop::sample::select(known_names()).prop_map(|n| n.to_uppercase()),
        1 => any::<String>(),
    ];
    prop::collection::vec((name, value()), 0..48)
}

fn row_map(cols: &[(String, Option<String>)]) -> RowMap<'_> {
    let mut r = RowMap::with_capacity(cols.len());
    for (n, v) in cols {
        r.push(Cow::Borrowed(n.as_str()), v.as_deref().map(Cow::Borrowed));
    }
    r
}

/// One replica judged by the whole model (health rules, anomalies, the master's verdict) with
/// `link` as its replication status.
fn judge_replica(link: crate::fleet::status::ReplicationStatus, status: InstanceStatus) {
    let shard = Shard::new("s", Addr::new("master", 3306), [Addr::new("r", 3306)], None);
    let mut f = Fleet::new(vec![shard], Limits::default());
    let mut replica = status.clone();
    replica.read_only = true;
    replica.replication = vec![link];
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let elapsed = std::time::Duration::from_millis(1);
    f.apply(0, 0, Sample { at, elapsed, result: Ok(status) });
    f.apply(0, 1, Sample { at, elapsed, result: Ok(replica) });
    let _ = f.shards[0].worst_lag();
}

proptest! {
    #![proptest_config(config())]

    /// Any column set, NULLs, garbage, huge and negative numbers: every parser of the probe's
    /// rows answers, and a parsed replication status goes through every rule.
    #[test]
    fn fuzz_probe_rows(a in row(), b in row(), text in any::<String>()) {
        let (ra, rb) = (row_map(&a), row_map(&b));
        let rows = [row_map(&a), row_map(&b)];
        let _ = parse::parse_filters(&ra);
        let _ = parse::parse_replica_hosts(&rows);
        let _ = parse::parse_dump_hosts(&rows);
        let _ = parse::parse_counters(&rows);
        let _ = parse::parse_semi_sync(&rows[..1], &rows[1..]);
        let _ = parse::parse_binlog_status(&rows);
        let _ = parse::parse_dialect(&ra);
        let _ = parse::parse_vertical(&text);
        let mut status = crate::fleet::test_support::master_status();
        for flavor in [Flavor::MariaDb, Flavor::MySql] {
            if let Ok(v) = parse::parse_variables(&rb, flavor) {
                let _ = format!("{v:?}");
            }
        }
        if let Ok(c) = parse::parse_counters(&rows) {
            status.counters = c;
        }
        if let Ok(link) = parse::parse_replication(&ra) {
            judge_replica(link, status);
        }
    }

    /// Seconds_Behind_Master / _Source at its edges (NULL, negative, huge, not a number), with
    /// the threads in any state: parsed, judged, charted, without a panic.
    #[test]
    fn fuzz_seconds_behind(
        sbm in prop_oneof![
            Just(None),
            any::<i64>().prop_map(|n| Some(n.to_string())),
            any::<u64>().prop_map(|n| Some(n.to_string())),
            Just(Some("18446744073709551616".to_string())),
            Just(Some("-0".to_string())),
            any::<String>().prop_map(Some),
        ],
        io in prop::sample::select(vec!["Yes", "No", "Connecting", "", "yes"]),
        sql in prop::sample::select(vec!["Yes", "No", ""]),
        mariadb in any::<bool>(),
        heartbeat in prop::option::of(any::<f64>()),
    ) {
        let names: [&str; 6] = if mariadb {
            ["Master_Host", "Master_Port", "Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Master_Server_Id"]
        } else {
            ["Source_Host", "Source_Port", "Replica_IO_Running", "Replica_SQL_Running", "Seconds_Behind_Source", "Source_Server_Id"]
        };
        let values = [Some("master".to_string()), Some("3306".into()), Some(io.to_string()), Some(sql.to_string()), sbm, Some("1".into())];
        let cols: Vec<(String, Option<String>)> = names.iter().map(|n| n.to_string()).zip(values).collect();
        if let Ok(link) = parse::parse_replication(&row_map(&cols)) {
            let mut status = crate::fleet::test_support::master_status();
            status.heartbeat_lag = heartbeat;
            let _ = crate::fleet::health::lag_seconds(&status, &link);
            judge_replica(link, status);
        }
    }

    /// GTID text as servers print it, and worse: MariaDB lists, MySQL UUID:interval sets,
    /// uppercase, whitespace, empty parts, huge numbers. Parsing answers, and whatever parses goes
    /// through the set arithmetic the rules use.
    #[test]
    fn fuzz_gtid(
        a in prop_oneof![
            any::<String>(),
            "[0-9a-fA-F:,\\- \n\t]{0,80}",
            "(( |\n)?[0-9]{1,11}-[0-9]{1,11}-[0-9]{1,21}( )?,?){0,5}",
            "(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(:[0-9]{1,20}(-[0-9]{1,20})?){0,3}),?\n?){0,3}",
        ],
        b in "(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(:[0-9]{1,20}(-[0-9]{1,20})?){0,3}),?){0,3}|(([0-9]{1,11}-[0-9]{1,11}-[0-9]{1,21}),?){0,4}",
        server_id in any::<u32>(),
    ) {
        let _ = errant_in_binlog_state(&a, &b, server_id);
        let _ = errant_in_binlog_state(&b, &a, server_id);
        if let (Ok(x), Ok(y)) = (MariaGtidList::parse(&a), MariaGtidList::parse(&b)) {
            let _ = (x.contains(&y), y.contains(&x), crate::mysql::gtid::errant(&x, &y), x.to_string());
        }
        if let (Ok(x), Ok(y)) = (GtidSet::parse(&a), GtidSet::parse(&b)) {
            let u = x.union(&y);
            let d = x.subtract(&y);
            prop_assert!(d.is_subset(&x) && x.is_subset(&u) && y.is_subset(&u));
            let _ = (u.count(), d.count(), x.errant_from(&y, None), x.to_string());
        }
        for flavor in [Flavor::MariaDb, Flavor::MySql] {
            if let (Ok(x), Ok(y)) = (History::parse(flavor, &a), History::parse(flavor, &b)) {
                let _ = (x.union(&y), x.contains(&y), x.missing_from(&y), x.weight());
            }
        }
    }

    /// Prometheus and Graphite answers: any JSON of the right shape or not, any HTTP status.
    #[test]
    fn fuzz_metrics_answers(body in json_text(), status in prop_oneof![Just(200u16), Just(400), Just(503), any::<u16>()]) {
        let _ = crate::metrics::prometheus::parse(status, &body);
        let _ = crate::metrics::prometheus::parse_range(status, &body);
        let _ = crate::metrics::graphite::parse(&body);
    }

    /// Key names in keymap files.
    #[test]
    fn fuzz_key_specs(s in prop_oneof![
        any::<String>(),
        "((ctrl|alt|shift|C|A|S|Ctrl|CTRL)[-+]){0,3}([a-zA-Z0-9?/ ]|f[0-9]{1,4}|enter|esc|space|tab|up|down|pgup|home|backspace|[^a-z]){0,3}",
    ]) {
        if let Ok(k) = crate::keymap::KeySpec::parse(&s) {
            let _ = format!("{k:?}");
        }
    }

    /// The wire simulator (`shardtop sim`, `bench --wire`) answers whatever a client sends:
    /// the probe's own statements, mutated or cut, and any text, in both flavours; for every
    /// instance it serves, the upstream, and one past them, at any time of three years of
    /// running (index and time are the simulator's own — its listener and its clock — never a
    /// client's).
    #[test]
    fn fuzz_wire_sim_queries(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        noise in any::<String>(),
        how in 0u8..4,
        k in 0usize..9,
        t in prop_oneof![0.0f64..100_000.0, 0.0f64..1e8],
        mysql in any::<bool>(),
    ) {
        use crate::sim::state::{WireFleet, WireFlavor};
        let flavor = if mysql { WireFlavor::Mysql84 } else { WireFlavor::Mariadb };
        let fleet = WireFleet::new(2, flavor, (0..7).map(|n| Addr::new("127.0.0.1", 26_000 + n)).collect());
        let statements = crate::probe::probe_statements(flavor.dialect());
        let real = &statements[pick.index(statements.len())];
        let at = cut.index(real.len() + 1);
        let at = (0..=at).rev().find(|i| real.is_char_boundary(*i)).unwrap_or(0);
        let sql = match how {
            0 => real.clone(),
            1 => format!("{}{noise}", &real[..at]),
            2 => format!("{real}; {noise}; {}", statements.join("; ")),
            _ => noise.clone(),
        };
        let _ = fleet.answer(k, t, &sql);
    }

    /// Theme files: mutations of every shipped theme, and their inheritance, loaded as a user's.
    #[test]
    fn fuzz_theme_files(edits in prop::collection::vec(edit(), 0..6), which in 0usize..5) {
        let shipped = [
            include_str!("../themes/default.toml"),
            include_str!("../themes/dark-truecolor.toml"),
            include_str!("../themes/lcd.toml"),
            include_str!("../themes/light.toml"),
            include_str!("../themes/mono.toml"),
        ];
        let text = mutate(shipped[which % shipped.len()], &edits);
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        std::fs::write(dir.path().join("t.toml"), &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // A theme whose parent is itself, or the mutated one, must end too.
        std::fs::write(dir.path().join("u.toml"), "parent = \"t\"\n").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let loader = crate::ui::theme::ThemeLoader { user_dir: Some(dir.path().to_path_buf()) };
        let _ = loader.load("t");
        let _ = loader.load("u");
    }
}

/// JSON text as a metrics source might answer: the right keys in random shapes, any values.
fn json_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "status",
            "data",
            "resultType",
            "result",
            "metric",
            "value",
            "values",
            "target",
            "datapoints",
            "error",
            "errorType",
            "warnings",
            "shard",
            "instance",
            "__name__",
            "tags",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|n| serde_json::json!(n)),
        prop::sample::select(vec![
            "success", "error", "vector", "matrix", "scalar", "NaN", "+Inf", "-Inf", "1e309", "-1"
        ])
        .prop_map(|s| serde_json::json!(s)),
        any::<String>().prop_map(serde_json::Value::String),
    ];
    let json = leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![8 => json.prop_map(|v| v.to_string()), 1 => any::<String>(), 1 => "[\\[\\]{}\",:0-9a-z ]{0,60}"]
}
