//! `[[shard]]`: each shard's name, master, replicas and upstream, and no server in two places.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::config::schema::Opt;
use crate::config::validate::Checker;
use crate::fleet::Addr;
use crate::fleet::promotion::Promotion;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardConfig {
    pub name: String,
    pub master: Addr,
    /// Empty means: discover them from the master.
    pub replicas: Vec<Addr>,
    /// The global master this shard's master replicates from, if any.
    pub upstream: Option<Addr>,
    /// Per-instance say on becoming the master (failover's candidate choice).
    pub promotion: Vec<(Addr, Promotion)>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawShard {
    pub name: Opt<String>,
    pub master: Opt<String>,
    pub replicas: Option<Vec<Spanned<String>>>,
    pub upstream: Opt<String>,
    pub promotion: Opt<BTreeMap<String, Spanned<String>>>,
}

/// The keys of `[[shard]]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawShard`.
pub(in crate::config) const KEYS: &[&str] = &["name", "master", "replicas", "upstream", "promotion"];

/// Who first claimed an address, to explain a duplicate.
struct Owner {
    shard: usize,
    label: String,
    role: &'static str,
    line: usize,
}

impl Checker<'_> {
    pub(in crate::config) fn shards(&mut self, raw: Vec<Spanned<RawShard>>) -> Vec<ShardConfig> {
        if raw.is_empty() {
            self.error(
                None,
                "no shards: add at least one [[shard]]".into(),
                "[[shard]] with name = \"…\" and master = \"host:port\"; see config.example.toml".to_string(),
            );
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut seen: HashMap<Addr, Owner> = HashMap::new();
        let mut warned_localhost = false;
        let mut shards = Vec::new();
        for (index, shard) in raw.into_iter().enumerate() {
            let header = shard.span();
            let shard = shard.into_inner();
            let number = index + 1;
            let name = self.shard_name(shard.name.as_ref(), &header, number, &mut names);
            let label = match &name {
                Some(n) => format!("shard `{n}`"),
                None => format!("shard #{number}"),
            };

            let master = match &shard.master {
                None => {
                    self.error(
                        Some(&header),
                        format!("{label} has no master"),
                        "add master = \"host:port\"".to_string(),
                    );
                    None
                }
                Some(m) => self.addr(&label, "master", m),
            };
            let replicas: Vec<_> =
                shard.replicas.iter().flatten().filter_map(|r| self.addr(&label, "replicas", r)).collect();
            let upstream = shard.upstream.as_ref().and_then(|u| self.addr(&label, "upstream", u));

            let all = master.iter().map(|m| (m, "master")).chain(replicas.iter().map(|r| (r, "replica")));
            for ((addr, span), role) in all {
                let owner = Owner { shard: number, label: label.clone(), role, line: self.line_of(span) };
                self.claim(&mut seen, addr, span, owner);
            }
            if let Some((up, span)) = &upstream {
                if master.as_ref().is_some_and(|(m, _)| m == up) {
                    self.error(
                        Some(span),
                        format!("{label}: upstream {up} is the shard's own master"),
                        "upstream is the global master that this shard's master replicates from; leave it out if there is none"
                            .to_string(),
                    );
                } else if replicas.iter().any(|(r, _)| r == up) {
                    self.error(
                        Some(span),
                        format!("{label}: upstream {up} is also one of its replicas, so replication would loop"),
                        None,
                    );
                }
            }
            if !warned_localhost {
                let mut all = master.iter().chain(&replicas).chain(&upstream);
                if let Some((addr, span)) = all.find(|(a, _)| a.host == "localhost") {
                    warned_localhost = true;
                    self.warn(
                        Some(span),
                        format!(
                            "{label}: `localhost` means TCP to 127.0.0.1:{} here, not the Unix socket the mysql client would use",
                            addr.port
                        ),
                        "write 127.0.0.1 to say so; the account must accept TCP logins. Said once for all such addresses".to_string(),
                    );
                }
            }

            let members: Vec<&Addr> = master.iter().chain(&replicas).map(|(a, _)| a).collect();
            let promotion = self.promotion(&label, shard.promotion, &members, !replicas.is_empty());
            if let (Some(name), Some((master, _))) = (name, master) {
                shards.push(ShardConfig {
                    name,
                    master,
                    replicas: replicas.into_iter().map(|(a, _)| a).collect(),
                    upstream: upstream.map(|(a, _)| a),
                    promotion,
                });
            }
        }
        shards
    }

    /// The shard's name if it is usable; problems with it are reported.
    fn shard_name(
        &mut self,
        raw: Option<&Spanned<String>>,
        header: &Range<usize>,
        number: usize,
        names: &mut HashMap<String, usize>,
    ) -> Option<String> {
        let Some(raw) = raw else {
            self.error(
                Some(header),
                format!("shard #{number} has no name"),
                "add name = \"…\"; it is how you pick the shard (--shard NAME)".to_string(),
            );
            return None;
        };
        let (name, span) = (raw.get_ref(), raw.span());
        if name.is_empty() {
            self.error(Some(&span), format!("shard #{number}: the name is empty"), None);
            return None;
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                Some(&span),
                format!("shard name {name:?} contains whitespace or control characters"),
                "names are typed on the command line (--shard NAME): use letters, digits, - and _".to_string(),
            );
            return None;
        }
        let line = self.line_of(&span);
        if let Some(first) = names.get(name) {
            self.error(
                Some(&span),
                format!("duplicate shard name `{name}` (first used on line {first})"),
                "each shard needs its own name".to_string(),
            );
            return Some(name.clone());
        }
        names.insert(name.clone(), line);
        Some(name.clone())
    }

    /// Parses a server address, rejecting ones no server can have.
    /// `promotion = { "host:port" = "prefer" | "avoid" | "never" }`: each address a member of the
    /// shard (when its replicas are listed), each rule one of the words.
    fn promotion(
        &mut self,
        label: &str,
        raw: Opt<BTreeMap<String, Spanned<String>>>,
        members: &[&Addr],
        listed: bool,
    ) -> Vec<(Addr, Promotion)> {
        let Some(raw) = raw else { return Vec::new() };
        let table = raw.span();
        let mut out = Vec::new();
        for (key, rule) in raw.into_inner() {
            let addr = match key.parse::<Addr>() {
                Ok(a) => a,
                Err(e) => {
                    self.error(
                        Some(&table),
                        format!("{label} promotion: {key:?}: {e}"),
                        "write \"host:port\"".to_string(),
                    );
                    continue;
                }
            };
            if listed && !members.contains(&&addr) {
                self.error(
                    Some(&table),
                    format!("{label} promotion: {addr} is not the master or a replica of this shard"),
                    "name a server listed in master or replicas (a typo here would silently not apply)".to_string(),
                );
                continue;
            }
            match Promotion::parse(rule.get_ref()) {
                Some(p) => out.push((addr, p)),
                None => self.error(
                    Some(&rule.span()),
                    format!("{label} promotion for {addr}: {:?} is not a rule", rule.get_ref()),
                    "one of \"prefer\", \"neutral\", \"avoid\", \"never\"".to_string(),
                ),
            }
        }
        out
    }

    fn addr(&mut self, label: &str, key: &str, raw: &Spanned<String>) -> Option<(Addr, Range<usize>)> {
        let span = raw.span();
        let addr = match raw.get_ref().parse::<Addr>() {
            Ok(a) => a,
            Err(e) => {
                self.error(
                    Some(&span),
                    format!("{label} {key}: {e}"),
                    "write host:port, e.g. \"db1.example.com:3306\" or \"[2001:db8::1]:3306\"".to_string(),
                );
                return None;
            }
        };
        if let Ok(ip) = addr.host.parse::<IpAddr>()
            && (ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()))
        {
            self.error(
                Some(&span),
                format!("{label} {key}: {addr} is not a server address"),
                "0.0.0.0 and :: mean \"every interface\" to a listening server; write the server's own address"
                    .to_string(),
            );
            return None;
        }
        Some((addr, span))
    }

    /// Records who uses `addr`, reporting it if someone already does.
    fn claim(&mut self, seen: &mut HashMap<Addr, Owner>, addr: &Addr, span: &Range<usize>, owner: Owner) {
        let Some(prev) = seen.get(addr) else {
            seen.insert(addr.clone(), owner);
            return;
        };
        let message = if prev.shard != owner.shard {
            format!(
                "{addr} is in two shards: {} ({}, line {}) and {} ({})",
                prev.label, prev.role, prev.line, owner.label, owner.role
            )
        } else if prev.role == "master" {
            format!("{} lists its own master {addr} as a replica", owner.label)
        } else {
            format!("{} lists replica {addr} twice", owner.label)
        };
        self.error(Some(span), message, "each server belongs to one shard, listed once".to_string());
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn a_server_belongs_to_one_shard() {
        let text = "[[shard]]\nname = \"a\"\nmaster = \"db1:3306\"\n[[shard]]\nname = \"b\"\nmaster = \"db2:3306\"\nreplicas = [\"db1:3306\"]\n";
        let e = err(text, &fixture_env());
        assert!(
            has(&e, Some(7), "db1:3306 is in two shards: shard `a` (master, line 3) and shard `b` (replica)"),
            "{e}"
        );
        let e = err("[[shard]]\nname = \"a\"\nmaster = \"db1:3306\"\nupstream = \"db1:3306\"\n", &fixture_env());
        assert!(has(&e, Some(4), "shard `a`: upstream db1:3306 is the shard's own master"), "{e}");
    }

    #[test]
    fn promotion_rules_name_members_and_known_words() {
        let base = "[[shard]]\nname = \"a\"\nmaster = \"db1:3306\"\nreplicas = [\"db2:3306\", \"db3:3306\"]\n";
        let c = ok(
            &format!("{base}promotion = {{ \"db2:3306\" = \"prefer\", \"db3:3306\" = \"never\" }}\n"),
            &fixture_env(),
        );
        let p = &c.config.shards[0].promotion;
        assert_eq!(
            p,
            &vec![
                ("db2:3306".parse().expect("addr"), crate::fleet::promotion::Promotion::Prefer),
                ("db3:3306".parse().expect("addr"), crate::fleet::promotion::Promotion::Never)
            ]
        );
        let e = err(&format!("{base}promotion = {{ \"db9:3306\" = \"avoid\" }}\n"), &fixture_env());
        assert!(has(&e, Some(5), "shard `a` promotion: db9:3306 is not the master or a replica of this shard"), "{e}");
        let e = err(&format!("{base}promotion = {{ \"db2:3306\" = \"always\" }}\n"), &fixture_env());
        assert!(has(&e, Some(5), "shard `a` promotion for db2:3306: \"always\" is not a rule"), "{e}");
    }

    #[test]
    fn localhost_is_explained_once() {
        let text = "[[shard]]\nname = \"a\"\nmaster = \"localhost:3306\"\nreplicas = [\"localhost:3307\"]\n";
        let w = ok(text, &fixture_env()).warnings;
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].to_string().contains("`localhost` means TCP to 127.0.0.1:3306"), "{}", w[0]);
    }
}
