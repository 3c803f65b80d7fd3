//! A remote viewer's shards when its collector's change: a collector restarted with another
//! config lists other shards (or a shard under another master) in the `full` frame of the
//! reconnected stream. The model takes the collector's list as it now is — shards that stay keep
//! their data and histories, new ones start empty, removed ones go — and says what changed.

use super::Addr;
use super::model::{Fleet, Shard};

/// The shards a collector's `full` frame lists, in its order: (name, master address).
#[derive(Clone, Debug, PartialEq)]
pub struct Relayout {
    pub shards: Vec<(String, Addr)>,
}

/// What differs between two layouts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayoutDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Shards still listed whose master is another server now: (name, new master).
    pub moved: Vec<(String, Addr)>,
}

impl LayoutDiff {
    /// From `old` to `new`; shards in the order each list has them.
    pub fn between(old: &[(String, Addr)], new: &[(String, Addr)]) -> LayoutDiff {
        let find = |list: &[(String, Addr)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, a)| a.clone());
        let mut diff = LayoutDiff::default();
        for (name, master) in new {
            match find(old, name) {
                None => diff.added.push(name.clone()),
                Some(was) if was != *master => diff.moved.push((name.clone(), master.clone())),
                Some(_) => {}
            }
        }
        diff.removed = old.iter().filter(|(n, _)| find(new, n).is_none()).map(|(n, _)| n.clone()).collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.moved.is_empty()
    }

    /// One line for the events pane: "the collector now watches 62 shards: +s61 +s62 −s3".
    pub fn describe(&self, total: usize) -> String {
        let mut parts: Vec<String> = self.added.iter().map(|n| format!("+{n}")).collect();
        parts.extend(self.removed.iter().map(|n| format!("−{n}")));
        parts.extend(self.moved.iter().map(|(n, m)| format!("{n} master {m}")));
        let noun = if total == 1 { "shard" } else { "shards" };
        format!("the collector now watches {total} {noun}: {}", parts.join(" "))
    }
}

impl Fleet {
    /// The shards as laid out now: (name, master address).
    pub fn layout(&self) -> Vec<(String, Addr)> {
        self.shards.iter().map(|s| (s.name.clone(), s.master().addr.clone())).collect()
    }

    /// Lay the model out as `layout` (a metrics-only model, as a remote viewer's): a shard that is
    /// still listed keeps its servers and histories when its master is one of its servers (a
    /// promotion), else it starts afresh like a new one. Returns, for each shard's old index, its
    /// new one (`None`: removed), for whatever addresses shards by index.
    pub fn relayout(&mut self, layout: &[(String, Addr)]) -> Vec<Option<usize>> {
        let mut old: Vec<Option<Shard>> = std::mem::take(&mut self.shards).into_iter().map(Some).collect();
        let mut moved_to = vec![None; old.len()];
        for (k, (name, master)) in layout.iter().enumerate() {
            let kept = old.iter().position(|s| {
                s.as_ref().is_some_and(|s| s.name == *name && s.instances.iter().any(|i| i.addr == *master))
            });
            let shard = match kept.and_then(|o| old[o].take().map(|s| (o, s))) {
                Some((o, s)) => {
                    moved_to[o] = Some(k);
                    s
                }
                None => {
                    // The same name under a master it never had is another shard: its old data goes.
                    if let Some(o) = old.iter().position(|s| s.as_ref().is_some_and(|s| s.name == *name)) {
                        old[o] = None;
                        moved_to[o] = Some(k);
                    }
                    let mut s = Shard::new(name.clone(), master.clone(), [], None);
                    s.metrics_only = true;
                    s.evaluate(&self.limits, Vec::new());
                    s
                }
            };
            self.shards.push(shard);
        }
        self.index.clear();
        for (s, shard) in self.shards.iter().enumerate() {
            for (i, inst) in shard.instances.iter().enumerate() {
                self.index.entry(inst.addr.clone()).or_insert((s, i));
            }
        }
        moved_to
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::remote::{RemoteMember, RemoteShard};
    use crate::fleet::{Health, Limits};

    fn at(name: &str, port: u16) -> (String, Addr) {
        (name.to_string(), Addr::new("db", port))
    }

    #[test]
    fn the_diff_names_added_removed_and_moved_shards() {
        let old = [at("s1", 1), at("s2", 2), at("s3", 3)];
        let new = [at("s1", 1), at("s2", 9), at("s61", 61), at("s62", 62)];
        let d = LayoutDiff::between(&old, &new);
        assert_eq!(d.added, ["s61", "s62"]);
        assert_eq!(d.removed, ["s3"]);
        assert_eq!(d.moved, [("s2".to_string(), Addr::new("db", 9))]);
        assert_eq!(d.describe(new.len()), "the collector now watches 4 shards: +s61 +s62 −s3 s2 master db:9");
        assert!(LayoutDiff::between(&old, &old).is_empty());
        // Order alone is no change.
        assert!(LayoutDiff::between(&old, &[at("s3", 3), at("s1", 1), at("s2", 2)]).is_empty());
    }

    #[test]
    fn shards_that_stay_keep_their_data_new_ones_start_empty_removed_ones_go() {
        let shards = ["s1", "s2", "s3"].map(|n| Shard::new(n, Addr::new(n, 3306), [], None));
        let mut f = Fleet::new(shards.into(), Limits::default()).metrics_only();
        let member = |addr: &str, master: bool| RemoteMember {
            addr: addr.parse().expect("addr"),
            master,
            up: true,
            health: Health::Ok,
            read_only: Some(!master),
            source: None,
            io: None,
            sql: None,
            lag: None,
        };
        let s2 = RemoteShard {
            shard: 1,
            master_state: Some("up".into()),
            health: Health::Critical,
            members: vec![member("s2:3306", true), member("s2r:3306", false)],
            problems: Vec::new(),
        };
        f.apply_remote(chrono::Utc::now(), &[s2]);
        // s2's replica is its master now (a promotion); s1 is gone; s4 is new.
        let layout = vec![
            ("s3".to_string(), Addr::new("s3", 3306)),
            ("s2".into(), Addr::new("s2r", 3306)),
            ("s4".into(), Addr::new("s4", 3306)),
        ];
        let map = f.relayout(&layout);
        assert_eq!(map, [None, Some(1), Some(0)]);
        assert_eq!(f.layout().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["s3", "s2", "s4"]);
        assert_eq!(f.shards[1].health, Health::Critical, "s2 keeps what its collector said");
        assert_eq!(f.shards[1].instances.len(), 2);
        assert!(f.shards[2].metrics_only && f.shards[2].instances.len() == 1);
        assert_eq!(f.index.get(&Addr::new("s2r", 3306)), Some(&(1, 1)));
        assert_eq!(f.index.get(&Addr::new("s1", 3306)), None, "a removed shard's servers are not watched");
        // The same name under a server it never had: another shard, its old data gone.
        let map = f.relayout(&[("s2".to_string(), Addr::new("elsewhere", 3306))]);
        assert_eq!(map, [None, Some(0), None]);
        assert_eq!((f.shards[0].instances.len(), f.shards[0].health), (1, Health::Unknown));
    }
}
