//! Producer re-sends (the same event, `id` and event time, in another
//! message): which events of a store group are stored and which are
//! dropped, judged against the claims already held in
//! `ingest_claims_by_time` (docs/delivery.md, "Producer
//! re-sends"). [`judge`] is the rule, free of I/O; [`claims`] reads and
//! writes the claims around it.

pub(crate) mod claims;

use std::collections::{HashMap, HashSet};

use crate::encode::{Accepted, Rows};
use crate::sink::group::BatchId;

/// A claim on an event id: the message whose event was stored, and the
/// store (consumer group and store group) that stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub store_key: String,
}

/// An event to claim: a part's accepted event kept by [`judge`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keep<'a> {
    pub member: &'a BatchId,
    pub event: Accepted,
}

/// The verdicts on a group's events.
#[derive(Debug)]
pub(crate) struct Verdicts<'a> {
    /// Per part and raw table, the row numbers of the re-sends.
    pub drop: Vec<[HashSet<usize>; 5]>,
    /// The events stored, to claim, in member order then offset.
    pub keep: Vec<Keep<'a>>,
}

/// How many events the verdicts `drop`.
pub(crate) fn dropped(drop: &[[HashSet<usize>; 5]]) -> u64 {
    drop.iter().flatten().map(|d| d.len() as u64).sum()
}

/// Judges every accepted event of the group (`parts[i]` are the rows of
/// `members[i]`), given the claims already held on their ids.
///
/// An event (id X at topic/partition/offset p) is stored when no claim on
/// X exists, or when X's claim is this very store's (`store_key`) at p (a
/// crashed group re-formed: its claims landed, maybe not all its rows).
/// Any other claim — another partition, an earlier offset, another
/// consumer group such as a replay — makes it a re-send. Within the group
/// the first occurrence (member order, then offset) wins. Ids are compared
/// whole: 128 bits, never folded.
pub(crate) fn judge<'a>(
    store_key: &str,
    members: &'a [BatchId],
    parts: &[&Rows],
    claims: &HashMap<u128, Vec<Claim>>,
) -> Verdicts<'a> {
    let mut drop: Vec<[HashSet<usize>; 5]> = parts.iter().map(|_| Default::default()).collect();
    let mut taken: HashSet<u128> = HashSet::new();
    let mut keep = Vec::new();
    for (p, (member, part)) in members.iter().zip(parts).enumerate() {
        for a in &part.accepted {
            let id = a.id.as_u128();
            let own = |c: &Claim| {
                c.store_key == store_key
                    && c.topic == member.topic
                    && c.partition == member.partition as u32
                    && c.offset == a.offset as u64
            };
            let stored = match claims.get(&id) {
                None => !taken.contains(&id),
                Some(cs) => cs.iter().any(own),
            };
            if stored {
                taken.insert(id);
                keep.push(Keep { member, event: *a });
            } else {
                drop[p][a.table as usize].insert(a.row as usize);
            }
        }
    }
    Verdicts { drop, keep }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn member(partition: i32, first: i64, last: i64) -> BatchId {
        BatchId {
            topic: "auth-events".into(),
            partition,
            first,
            last,
        }
    }

    /// A part whose events are logins with these ids, at offsets from
    /// `first` on (only what the verdicts read is filled in).
    fn part(first: i64, ids: &[u128]) -> Rows {
        let mut rows = Rows::default();
        for (i, id) in ids.iter().enumerate() {
            rows.accepted.push(Accepted {
                id: Uuid::from_u128(*id),
                offset: first + i as i64,
                at_ms: 0,
                table: 0,
                row: i as u32,
            });
        }
        rows
    }

    fn claims_of(store_key: &str, v: &Verdicts) -> HashMap<u128, Vec<Claim>> {
        let mut out: HashMap<u128, Vec<Claim>> = HashMap::new();
        for k in &v.keep {
            out.entry(k.event.id.as_u128()).or_default().push(Claim {
                topic: k.member.topic.clone(),
                partition: k.member.partition as u32,
                offset: k.event.offset as u64,
                store_key: store_key.into(),
            });
        }
        out
    }

    impl Verdicts<'_> {
        fn dropped_count(&self) -> u64 {
            dropped(&self.drop)
        }
    }

    fn dropped_rows(v: &Verdicts, p: usize) -> Vec<usize> {
        let mut rows: Vec<usize> = v.drop[p][0].iter().copied().collect();
        rows.sort();
        rows
    }

    #[test]
    fn ids_with_equal_halves_are_distinct() {
        // The attack suite's case: ids whose 64-bit halves are equal (so
        // any hi ^ lo fold maps them all to 0) and ids whose halves XOR
        // alike. Whole 128-bit ids: every one is its own event.
        let mut ids: Vec<u128> = (1..=10u128).map(|k| (k << 64) | k).collect();
        ids.push((0xF0u128 << 64) | 0x0F);
        ids.push((0x0Fu128 << 64) | 0xF0);
        let members = [member(0, 0, 11)];
        let rows = part(0, &ids);
        let v = judge("g/k", &members, &[&rows], &HashMap::new());
        assert_eq!(v.keep.len(), 12);
        assert_eq!(v.dropped_count(), 0);
    }

    #[test]
    fn first_copy_in_member_then_offset_order_wins() {
        let members = [member(0, 10, 12), member(1, 0, 1)];
        let (p0, p1) = (part(10, &[7, 8, 7]), part(0, &[8, 9]));
        let v = judge("g/k", &members, &[&p0, &p1], &HashMap::new());
        let kept: Vec<(i32, i64)> = v
            .keep
            .iter()
            .map(|k| (k.member.partition, k.event.offset))
            .collect();
        assert_eq!(kept, vec![(0, 10), (0, 11), (1, 1)]);
        assert_eq!(dropped_rows(&v, 0), vec![2]);
        assert_eq!(dropped_rows(&v, 1), vec![0]);
        assert_eq!(v.dropped_count(), 2);
    }

    #[test]
    fn a_claim_of_another_store_or_position_makes_a_resend() {
        let members = [member(2, 100, 103)];
        let rows = part(100, &[1, 2, 3, 4]);
        let claim = |partition: u32, offset: u64, key: &str| Claim {
            topic: "auth-events".into(),
            partition,
            offset,
            store_key: key.into(),
        };
        let claims: HashMap<u128, Vec<Claim>> = [
            // This very store at this very position: a re-formed group.
            (1, vec![claim(2, 100, "g/k")]),
            // Same store key, another offset: a re-send within the stream.
            (2, vec![claim(2, 50, "g/k")]),
            // Same position, another consumer group (an operator replay).
            (3, vec![claim(2, 102, "g-replay/k")]),
            // Another partition.
            (4, vec![claim(0, 103, "g/k")]),
        ]
        .into();
        let v = judge("g/k", &members, &[&rows], &claims);
        assert_eq!(v.keep.len(), 1);
        assert_eq!(v.keep[0].event.id.as_u128(), 1);
        assert_eq!(dropped_rows(&v, 0), vec![1, 2, 3]);
    }

    #[test]
    fn a_reformed_group_gets_the_verdicts_of_its_first_store() {
        // First store: 5 and 6 already claimed by an earlier store; 9 twice.
        let members = [member(0, 0, 3), member(1, 0, 2)];
        let (p0, p1) = (part(0, &[5, 9, 1, 2]), part(0, &[9, 6, 3]));
        let earlier: HashMap<u128, Vec<Claim>> = [5u128, 6]
            .into_iter()
            .map(|id| {
                let c = Claim {
                    topic: "auth-events".into(),
                    partition: 3,
                    offset: id as u64,
                    store_key: "g/other".into(),
                };
                (id, vec![c])
            })
            .collect();
        let first = judge("g/k", &members, &[&p0, &p1], &earlier);
        assert_eq!(first.dropped_count(), 3);
        // Its claims landed, then the process died: the replay sees the
        // earlier claims and its own.
        let mut all = earlier.clone();
        for (id, cs) in claims_of("g/k", &first) {
            all.entry(id).or_default().extend(cs);
        }
        let again = judge("g/k", &members, &[&p0, &p1], &all);
        assert_eq!(again.drop, first.drop);
        let ids =
            |v: &Verdicts| -> Vec<u128> { v.keep.iter().map(|k| k.event.id.as_u128()).collect() };
        assert_eq!(ids(&again), ids(&first));
        // A later store of the same ids under another key drops them all.
        let later = judge("g/later", &members, &[&p0, &p1], &all);
        assert_eq!(later.keep.len(), 0);
        assert_eq!(later.dropped_count(), 7);
    }
}
