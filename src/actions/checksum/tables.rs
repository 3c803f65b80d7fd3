//! Which tables to check, and how: each table's chunking key (the primary key, else a
//! NOT NULL unique index), its columns, and the reason when it cannot be checked.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::{ChecksumError, Request, Res, TablePlan, fail};

/// Integer column types: a one-column key of these is walked by arithmetic ranges.
const INT_TYPES: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];

/// Read the tables to check, with their keys and columns.
pub(super) async fn plan_tables(conn: &mut Conn, req: &Request) -> Res<Vec<TablePlan>> {
    let result_db = req.result_table.split('.').next().unwrap_or("percona").to_string();
    let mut names: Vec<(String, String, u64)> = conn
        .query_map(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
            |(d, t, n): (String, String, u64)| (d, t, n),
        )
        .await
        .map_err(fail("listing tables"))?;
    if !req.tables.is_empty() {
        for want in &req.tables {
            if !names.iter().any(|(d, t, _)| format!("{d}.{t}") == *want) {
                return Err(ChecksumError::Refused(format!("no table {want} on the master")));
            }
        }
        names.retain(|(d, t, _)| req.tables.contains(&format!("{d}.{t}")));
    } else {
        names.retain(|(d, _, _)| *d != result_db && (req.databases.is_empty() || req.databases.contains(d)));
    }
    let mut out = Vec::new();
    for (db, tbl, rows) in names {
        let typed: Vec<(String, String, String)> = conn
            .exec_map(
                "SELECT COLUMN_NAME, IS_NULLABLE, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db.as_str(), tbl.as_str()),
                |(c, n, t): (String, String, String)| (c, n, t),
            )
            .await
            .map_err(fail("reading columns"))?;
        let int_cols: Vec<String> = typed
            .iter()
            .filter(|(_, _, t)| INT_TYPES.contains(&t.to_ascii_lowercase().as_str()))
            .map(|(c, _, _)| c.clone())
            .collect();
        let cols: Vec<(String, String)> = typed.into_iter().map(|(c, n, _)| (c, n)).collect();
        let idx: Vec<(String, String, i64)> = conn
            .exec_map(
                "SELECT s.INDEX_NAME, s.COLUMN_NAME, s.NON_UNIQUE FROM information_schema.STATISTICS s \
                 WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? ORDER BY s.INDEX_NAME = 'PRIMARY' DESC, s.INDEX_NAME, s.SEQ_IN_INDEX",
                (db.as_str(), tbl.as_str()),
                |(i, c, n): (String, String, i64)| (i, c, n),
            )
            .await
            .map_err(fail("reading indexes"))?;
        let nullable: Vec<String> = cols.iter().filter(|(_, n)| n == "YES").map(|(c, _)| c.clone()).collect();
        // The primary key, else the first unique index whose columns are all NOT NULL.
        let mut index: Option<(String, Vec<String>)> = None;
        let mut names_seen: Vec<&str> = idx.iter().map(|(i, _, _)| i.as_str()).collect();
        names_seen.dedup();
        for name in names_seen {
            let parts: Vec<&(String, String, i64)> = idx.iter().filter(|(i, _, _)| i == name).collect();
            let unique = parts.iter().all(|(_, _, nu)| *nu == 0);
            let not_null = parts.iter().all(|(_, c, _)| !nullable.contains(c));
            if unique && not_null {
                index = Some((name.to_string(), parts.iter().map(|(_, c, _)| c.clone()).collect()));
                break;
            }
        }
        let columns: Vec<String> = cols.into_iter().map(|(c, _)| c).collect();
        let (index, key, skip) = match index {
            Some((i, k)) => (Some(i), k, None),
            // Small tables without a usable key are checksummed whole, as one chunk.
            None if rows <= 100_000 => (None, Vec::new(), None),
            None => (
                None,
                Vec::new(),
                Some(format!(
                    "no primary key or NOT NULL unique index, and ~{rows} rows is too many to checksum in one chunk"
                )),
            ),
        };
        let int_key = key.len() == 1 && int_cols.contains(&key[0]);
        out.push(TablePlan { db, tbl, index, key, int_key, columns, nullable, rows_estimate: rows, skip });
    }
    Ok(out)
}
