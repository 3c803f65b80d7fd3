//! A shard's members in the stream: per server its role, whether it answers, its replication
//! source and threads, its lag, read_only and health, keyed by address — so a remote TUI can
//! show instances (detail, topology) and offer them as action targets.
//!
//! Frames carry member fields only when they change (`delta`): a replica whose lag moved is one
//! `{"members":{"db2:3306":{"lag":3}}}`. Lags move every sweep on a busy fleet, so a member's lag
//! is re-sent only when it moves by more than a band (`keep_lags_within_band`); the shard's exact
//! worst lag is its own field.

use serde_json::{Map, Value};

use crate::fleet::{Role, Shard};

/// Every member of `s` that is not gone, by address.
pub fn members(s: &Shard) -> Value {
    let mut out = Map::new();
    for i in s.instances.iter().filter(|i| !i.gone) {
        let up = i.reachable();
        let mut m = Map::new();
        m.insert("role".into(), Value::from(if i.role == Role::Master { "master" } else { "replica" }));
        m.insert("up".into(), Value::from(up));
        m.insert("health".into(), serde_json::to_value(i.health).unwrap_or(Value::Null));
        // What the server last said, kept while it is down (greyed out on the viewer).
        if let Some(st) = i.status.as_ref() {
            m.insert("read_only".into(), Value::from(st.read_only));
            if let Some(l) = st.primary_link() {
                m.insert("source".into(), Value::from(l.source.to_string()));
                m.insert("io".into(), Value::from(l.io_state == crate::fleet::status::IoState::Running));
                m.insert("sql".into(), Value::from(l.sql_running));
            }
        }
        m.insert("lag".into(), i.lag().map_or(Value::Null, |l| Value::from(l.round() as i64)));
        out.insert(i.addr.to_string(), Value::Object(m));
    }
    Value::Object(out)
}

/// How far a member's lag may move from what viewers have before it is sent again: whichever is
/// larger, 2 s or a fifth of it. The lag thresholds are tens of seconds; the shard's worst lag
/// goes exactly.
const LAG_BAND_SECONDS: f64 = 2.0;
const LAG_BAND_SHARE: f64 = 0.2;

/// Keep each member's lag viewers have when the new one is within the band of it (a lag that
/// became unknown is always sent: the link broke). Most of a busy fleet's member changes were
/// replicas flapping between 0 and 1 s.
pub fn keep_lags_within_band(was: &Value, now: &mut Value) {
    let Some(now) = now.as_object_mut() else { return };
    for (addr, m) in now.iter_mut() {
        let (Some(old), Some(new)) = (was[addr]["lag"].as_f64(), m["lag"].as_f64()) else { continue };
        if (new - old).abs() <= LAG_BAND_SECONDS.max(old * LAG_BAND_SHARE) {
            m["lag"] = was[addr]["lag"].clone();
        }
    }
}

/// The member fields of `now` that differ from `was`, by address; a member that left is `null`.
/// `None` when nothing changed.
pub fn delta(was: &Value, now: &Value) -> Option<Value> {
    let (Some(was), Some(now)) = (was.as_object(), now.as_object()) else { return Some(now.clone()) };
    let mut out = Map::new();
    for (addr, m) in now {
        match (was.get(addr).and_then(Value::as_object), m.as_object()) {
            (Some(old), Some(new)) => {
                let mut fields = Map::new();
                for (k, v) in new {
                    if old.get(k) != Some(v) {
                        fields.insert(k.clone(), v.clone());
                    }
                }
                // A field the server no longer reports (a replica made master has no source).
                for k in old.keys().filter(|k| !new.contains_key(*k)) {
                    fields.insert(k.clone(), Value::Null);
                }
                if !fields.is_empty() {
                    out.insert(addr.clone(), Value::Object(fields));
                }
            }
            _ => {
                out.insert(addr.clone(), m.clone());
            }
        }
    }
    for addr in was.keys().filter(|a| !now.contains_key(*a)) {
        out.insert(addr.clone(), Value::Null);
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// A viewer's side: `changes` (from `delta`) merged into the members it has.
pub fn merge(have: &mut Value, changes: Value) {
    let (Some(have), Value::Object(changes)) = (have.as_object_mut(), changes) else { return };
    for (addr, fields) in changes {
        match (have.get_mut(&addr).and_then(Value::as_object_mut), fields) {
            (_, Value::Null) => {
                have.remove(&addr);
            }
            (Some(m), Value::Object(fields)) => {
                for (k, v) in fields {
                    if v.is_null() {
                        m.remove(&k);
                    } else {
                        m.insert(k, v);
                    }
                }
            }
            (_, whole) => {
                have.insert(addr, whole);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_shards_members_say_role_threads_source_and_lag() {
        let mut f = crate::serve::tests::fleet();
        let now = chrono::Utc::now();
        for i in 0..2 {
            let u = crate::serve::tests::sample(0, i, now, i == 0);
            f.apply(0, i, u.sample);
        }
        let m = members(&f.shards[0]);
        assert_eq!(
            m["db-a:3306"],
            json!({"role": "master", "up": true, "health": "ok", "read_only": false, "lag": null})
        );
        assert_eq!(
            m["db-b:3306"],
            json!({"role": "replica", "up": true, "health": "critical", "read_only": true, "source": "db-a:3306",
                   "io": true, "sql": false, "lag": null})
        );
    }

    #[test]
    fn only_changed_member_fields_go_and_merge_back_into_the_same_members() {
        let was = json!({"a:1": {"role": "master", "up": true}, "b:1": {"role": "replica", "up": true, "lag": 3, "source": "a:1"}});
        let now = json!({"a:1": {"role": "master", "up": false}, "c:1": {"role": "replica", "up": true},
                         "b:1": {"role": "replica", "up": true, "lag": 3}});
        let d = delta(&was, &now).expect("changes");
        assert_eq!(d, json!({"a:1": {"up": false}, "b:1": {"source": null}, "c:1": {"role": "replica", "up": true}}));
        assert_eq!(delta(&now, &now), None);
        let mut have = was.clone();
        merge(&mut have, d);
        assert_eq!(have, now);
        let mut have = now.clone();
        merge(&mut have, json!({"c:1": null}));
        assert!(have.get("c:1").is_none(), "a member that left is gone");
    }

    #[test]
    fn lags_move_by_more_than_the_band_or_to_and_from_zero() {
        let was = json!({"b:1": {"lag": 10}, "c:1": {"lag": 0}, "d:1": {"lag": 30}, "e:1": {"lag": 0}});
        let mut now = json!({"b:1": {"lag": 12}, "c:1": {"lag": 1}, "d:1": {"lag": 37}, "e:1": {"lag": 3}});
        keep_lags_within_band(&was, &mut now);
        assert_eq!(now, json!({"b:1": {"lag": 10}, "c:1": {"lag": 0}, "d:1": {"lag": 37}, "e:1": {"lag": 3}}));
        let mut now = json!({"b:1": {"lag": 0}, "c:1": {"lag": null}});
        keep_lags_within_band(&was, &mut now);
        assert_eq!(now, json!({"b:1": {"lag": 0}, "c:1": {"lag": null}}), "caught up, and a broken link, are news");
    }
}
