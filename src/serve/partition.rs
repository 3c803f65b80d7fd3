//! `--partition K/N`: which shards this collector owns when N collectors split a fleet. A shard
//! belongs to partition `fnv1a(name) mod N + 1`: every collector reading the same config agrees
//! without talking to the others, and a shard added to the config moves no other shard.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// 1-based.
    pub k: u32,
    pub n: u32,
}

impl Partition {
    pub fn owns(&self, shard: &str) -> bool {
        (fnv1a(shard.as_bytes()) % u64::from(self.n)) as u32 + 1 == self.k
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("partition {s:?}: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

/// FNV-1a, 64 bits: stable across versions and platforms (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2/4".parse::<Partition>(), Ok(Partition { k: 2, n: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "2", "", "1/2/3"] {
            let e = bad.parse::<Partition>().expect_err(bad);
            assert!(e.contains("K/N"), "{e}");
        }
    }

    #[test]
    fn every_shard_has_exactly_one_owner_and_the_split_is_even() {
        let names: Vec<String> = (1..=1000).map(|i| format!("users-{i:04}")).collect();
        let n = 4;
        let mut sizes = [0usize; 4];
        for name in &names {
            let owners: Vec<u32> = (1..=n).filter(|&k| Partition { k, n }.owns(name)).collect();
            assert_eq!(owners.len(), 1, "{name}: {owners:?}");
            sizes[(owners[0] - 1) as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| (200..=300).contains(&s)), "{sizes:?}");
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published test vectors: the partition must not change between versions.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
