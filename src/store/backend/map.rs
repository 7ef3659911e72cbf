//! The in-memory record map shared by the memory and single-file backends:
//! compare-and-swap checks, all-or-nothing application, ordered scans.

use std::collections::BTreeMap;

use super::{Expect, Record, WriteOp};
use crate::base::Result;

pub(crate) type RecordMap = BTreeMap<String, Record>;

/// Checks every precondition of `ops` against `records` (the state before
/// the commit).
pub(crate) fn check_all(records: &RecordMap, ops: &[WriteOp]) -> Result<()> {
    for op in ops {
        let (WriteOp::Put { id, expect, .. } | WriteOp::Delete { id, expect }) = op;
        expect.check(id, records.get(id).map(|r| r.revision))?;
    }
    Ok(())
}

/// Applies `ops` (already checked) and returns each write's new revision
/// (0 for deletes).
pub(crate) fn apply(records: &mut RecordMap, ops: &[WriteOp]) -> Vec<u64> {
    ops.iter()
        .map(|op| match op {
            WriteOp::Put { id, value, .. } => {
                let revision = records.get(id).map_or(1, |r| r.revision + 1);
                records.insert(
                    id.clone(),
                    Record {
                        value: value.clone(),
                        revision,
                    },
                );
                revision
            }
            WriteOp::Delete { id, .. } => {
                records.remove(id);
                0
            }
        })
        .collect()
}

/// Records whose id starts with `prefix`, in id order, strictly after
/// `start_after`, at most `limit`.
pub(crate) fn scan(
    records: &RecordMap,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Vec<(String, Record)> {
    let from = start_after.map_or(prefix, |s| s.max(prefix)).to_owned();
    records
        .range(from..)
        .filter(|(k, _)| Some(k.as_str()) != start_after)
        .take_while(|(k, _)| k.starts_with(prefix))
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Expect {
    /// Whether a record whose current revision is `current` (`None`: absent)
    /// meets this precondition; [`crate::ErrorKind::Conflict`] if not.
    pub(crate) fn check(self, id: &str, current: Option<u64>) -> Result<()> {
        let ok = match self {
            Expect::Any => true,
            Expect::Absent => current.is_none(),
            Expect::Revision(r) => current == Some(r),
        };
        if ok {
            Ok(())
        } else {
            Err(crate::Error::new(
                crate::ErrorKind::Conflict,
                format!("record {id} changed concurrently"),
            ))
        }
    }
}
