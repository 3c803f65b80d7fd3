//! The statements of the checksum itself: the result table, the row checksum
//! expression and the key comparisons, quoted for any identifier or key value.

use mysql_async::Value;

pub(super) fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// `db.table` quoted, from the validated config value.
pub(super) fn qualified(name: &str) -> String {
    name.split('.').map(ident).collect::<Vec<_>>().join(".")
}

/// `db`.`tbl` of a table to check (names may hold dots, backticks, spaces).
pub(super) fn table_name(db: &str, tbl: &str) -> String {
    format!("{}.{}", ident(db), ident(tbl))
}

/// pt-table-checksum's result table, with an explicit utf8mb4 charset: on a server whose
/// default is latin1 a multibyte key value could not be stored as a boundary otherwise.
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         db CHAR(64) NOT NULL, tbl CHAR(64) NOT NULL, chunk INT NOT NULL, chunk_time FLOAT NULL, \
         chunk_index VARCHAR(200) NULL, lower_boundary TEXT NULL, upper_boundary TEXT NULL, \
         this_crc CHAR(40) NOT NULL, this_cnt INT NOT NULL, master_crc CHAR(40) NULL, master_cnt INT NULL, \
         ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, \
         PRIMARY KEY (db, tbl, chunk), INDEX ts_db_tbl (ts, db, tbl)) ENGINE=InnoDB \
         DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        qualified(table)
    )
}

/// The charsets of the result table's text columns that are not utf8mb4 (a table
/// pt-table-checksum created on a latin1 server): one row per column.
pub(super) fn result_charsets_sql(table: &str) -> String {
    let (db, tbl) = table.split_once('.').unwrap_or(("percona", table));
    format!(
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} \
         AND TABLE_NAME = {} AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'",
        crate::mysql::replication::quote(db),
        crate::mysql::replication::quote(tbl)
    )
}

/// Convert a pre-existing result table so any boundary fits (replicates, like the checksums).
pub(super) fn convert_result_table_sql(table: &str) -> String {
    format!("ALTER TABLE {} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", qualified(table))
}

/// The row checksum expression, as pt-table-checksum builds it.
pub fn crc_expr(columns: &[String], nullable: &[String]) -> String {
    let mut parts: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    if !nullable.is_empty() {
        let isnull: Vec<String> = nullable.iter().map(|c| format!("ISNULL({})", ident(c))).collect();
        parts.push(format!("CONCAT({})", isnull.join(", ")));
    }
    format!("COALESCE(LOWER(CONV(BIT_XOR(CAST(CRC32(CONCAT_WS('#', {})) AS UNSIGNED)), 10, 16)), 0)", parts.join(", "))
}

/// `(a, b) >= (1, 2)`-style comparison of the key with a boundary.
pub(super) fn key_cmp(key: &[String], op: &str, vals: &[Value]) -> String {
    let k: Vec<String> = key.iter().map(|c| ident(c)).collect();
    let v: Vec<String> = vals.iter().map(|v| v.as_sql(false)).collect();
    if k.len() == 1 { format!("{} {op} {}", k[0], v[0]) } else { format!("({}) {op} ({})", k.join(", "), v.join(", ")) }
}

/// The ways a stored boundary (`boundary_text`) can split back into `arity` key values: one
/// for a one-column key or when the text holds exactly `arity - 1` commas, several when a
/// text key value itself holds a comma (at most `cap`, in order of the comma positions).
pub(super) fn boundary_splits(text: &str, arity: usize, cap: usize) -> Vec<Vec<String>> {
    fn go(rest: &str, parts_left: usize, acc: &mut Vec<String>, out: &mut Vec<Vec<String>>, cap: usize) {
        if out.len() >= cap {
            return;
        }
        if parts_left == 1 {
            let mut done = acc.clone();
            done.push(rest.to_string());
            out.push(done);
            return;
        }
        for (i, _) in rest.match_indices(',') {
            acc.push(rest[..i].to_string());
            go(&rest[i + 1..], parts_left - 1, acc, out, cap);
            acc.pop();
        }
    }
    let mut out = Vec::new();
    if arity == 0 {
        return out;
    }
    go(text, arity, &mut Vec::new(), &mut out, cap);
    out
}

/// Boundary values as pt-table-checksum stores them: comma-separated text.
pub(super) fn boundary_text(vals: &[Value]) -> String {
    vals.iter()
        .map(|v| match v {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::NULL => "NULL".into(),
            other => other.as_sql(false).trim_matches('\'').to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A statement, shortened for an error message.
pub(super) fn truncate(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod boundary_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_one_column_key_is_never_split() {
        assert_eq!(boundary_splits("Tokyo, Japan", 1, 8), vec![vec!["Tokyo, Japan".to_string()]]);
    }

    #[test]
    fn commas_inside_a_composite_key_give_every_reading() {
        assert_eq!(
            boundary_splits("7,a,b", 2, 8),
            vec![vec!["7".to_string(), "a,b".into()], vec!["7,a".into(), "b".into()]]
        );
        assert_eq!(boundary_splits("7,x", 2, 8), vec![vec!["7".to_string(), "x".into()]]);
        assert!(boundary_splits("no-comma", 2, 8).is_empty(), "too few values: no reading");
        assert_eq!(boundary_splits("a,b,c,d,e,f", 2, 3).len(), 3, "capped");
    }

    proptest! {
        /// Whatever the key values hold, the stored text splits back into them among the readings.
        #[test]
        fn the_stored_values_are_among_the_readings(vals in proptest::collection::vec("[a-c,]{0,4}", 1..4)) {
            let text = boundary_text(&vals.iter().map(|v| Value::Bytes(v.as_bytes().to_vec())).collect::<Vec<_>>());
            let readings = boundary_splits(&text, vals.len(), usize::MAX);
            prop_assert!(readings.contains(&vals), "{vals:?} from {text:?}: {readings:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expression pt-table-checksum 3.x generates for a table with one nullable column.
    #[test]
    fn crc_expression_matches_pt_table_checksum() {
        let cols = vec!["id".to_string(), "user_id".into(), "caption".into()];
        assert_eq!(
            crc_expr(&cols, &["caption".to_string()]),
            "COALESCE(LOWER(CONV(BIT_XOR(CAST(CRC32(CONCAT_WS('#', `id`, `user_id`, `caption`, CONCAT(ISNULL(`caption`)))) AS UNSIGNED)), 10, 16)), 0)"
        );
        assert!(!crc_expr(&cols[..1], &[]).contains("ISNULL"));
        assert_eq!(crc_expr(&["a`b c".to_string()], &[]).matches("`a``b c`").count(), 1);
    }

    #[test]
    fn key_comparisons_use_row_constructors_for_composite_keys() {
        let k = vec!["user_id".to_string(), "friend_id".into()];
        assert_eq!(key_cmp(&k, ">=", &[Value::Int(5), Value::Int(7)]), "(`user_id`, `friend_id`) >= (5, 7)");
        assert_eq!(key_cmp(&k[..1], ">", &[Value::Bytes(b"it's".to_vec())]), "`user_id` > 'it\\'s'");
        assert_eq!(boundary_text(&[Value::Int(5), Value::Bytes(b"x".to_vec())]), "5,x");
        assert_eq!(boundary_text(&[Value::Bytes("東京-997".as_bytes().to_vec())]), "東京-997");
        assert_eq!(table_name("so.cial", "a`b"), "`so.cial`.`a``b`");
    }

    #[test]
    fn result_table_has_pt_table_checksum_columns_and_states_its_charset() {
        let sql = create_table_sql("percona.checksums");
        for col in [
            "db CHAR(64)",
            "tbl CHAR(64)",
            "chunk INT",
            "chunk_time FLOAT",
            "chunk_index VARCHAR(200)",
            "lower_boundary TEXT",
            "upper_boundary TEXT",
            "this_crc CHAR(40)",
            "this_cnt INT",
            "master_crc CHAR(40)",
            "master_cnt INT",
            "ts TIMESTAMP",
            "PRIMARY KEY (db, tbl, chunk)",
            "DEFAULT CHARSET=utf8mb4",
        ] {
            assert!(sql.contains(col), "{col} missing from {sql}");
        }
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS `percona`.`checksums`"));
        assert!(result_charsets_sql("percona.checksums").contains("TABLE_NAME = 'checksums'"));
        assert_eq!(
            convert_result_table_sql("percona.checksums"),
            "ALTER TABLE `percona`.`checksums` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        );
    }

    #[test]
    fn long_statements_are_cut_on_a_character_boundary() {
        let s = "東".repeat(300);
        assert_eq!(truncate(&s).chars().count(), 201);
        assert_eq!(truncate("short"), "short");
    }
}
