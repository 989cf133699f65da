//! The writes of a case's document on PostgreSQL: each a compare-and-set on the sequence
//! number read, under the site's next sequence number (ADR 0008); one case at a time, or the
//! documents of one exchange together.

use super::super::{refused_push, to_i64, to_u64};
use super::statements::Step;
use std::collections::HashSet;
use wardcrf_core::repository::{PushedDoc, Put};

/// Every write of a case: a compare-and-set on the sequence number read (see
/// [`wardcrf_core::repository::HubStorage::put_case`] and ADR 0008). `pushed_by` is the
/// device that pushed it, `None` for the repository's own write (the last device is kept).
pub(super) fn put_checked(
    tx: &mut Step<'_>,
    case_id: &str,
    site: &str,
    form_id: &str,
    doc: &[u8],
    pushed_by: Option<&str>,
    read_seq: Option<u64>,
) -> Result<Put, ::postgres::Error> {
    let seq = next_seq(tx, site)?;
    // Under READ COMMITTED a concurrent insert of the same id waits for the other transaction
    // and then does nothing; an update waits for a concurrent writer of the row and then
    // tests `seq` on the row it committed, so a merge committed since the read fails the
    // test instead of being overwritten.
    let n = match read_seq {
        None => tx.execute(
            "INSERT INTO cases (case_id, site_id, form_id, doc, seq, pushed_by)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING",
            &[&case_id, &site, &form_id, &doc, &seq, &pushed_by],
        )?,
        Some(read) => tx.execute(
            "UPDATE cases SET form_id = $3, doc = $4, seq = $5,
                 pushed_by = COALESCE($6, pushed_by)
             WHERE case_id = $1 AND site_id = $2 AND seq = $7",
            &[
                &case_id,
                &site,
                &form_id,
                &doc,
                &seq,
                &pushed_by,
                &to_i64(read),
            ],
        )?,
    };
    if n == 1 {
        return Ok(Put::Stored(to_u64(seq)));
    }
    let holder = tx
        .query_opt("SELECT site_id FROM cases WHERE case_id = $1", &[&case_id])?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(refused_push(holder, site))
}

/// Ids, forms, documents and sequence numbers of pushed cases, as array parameters.
type PushedColumns<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<&'a [u8]>, Vec<i64>);

/// [`put_checked`] for the documents of one exchange in three statements, not three per
/// case: the site's sequence numbers taken at once (in the order of `docs`), the new cases
/// inserted and the read ones updated, each still only if no case has its id, or it is still
/// as read. The site of a refused case is then looked up, one at a time.
pub(super) fn put_checked_many(
    tx: &mut Step<'_>,
    site: &str,
    device: &str,
    docs: &[PushedDoc<'_>],
) -> Result<Vec<Put>, ::postgres::Error> {
    let n = i64::try_from(docs.len()).unwrap_or(i64::MAX);
    let last: i64 = tx
        .query_one(
            "INSERT INTO site_seq (site_id, seq) VALUES ($1, $2)
             ON CONFLICT (site_id) DO UPDATE SET seq = site_seq.seq + $2
             RETURNING seq",
            &[&site, &n],
        )?
        .try_get(0)?;
    let seqs: Vec<i64> = (0..n).map(|i| last - n + 1 + i).collect();
    let (mut new, mut read) = (Vec::new(), Vec::new());
    for (i, d) in docs.iter().enumerate() {
        match d.read_seq {
            None => new.push(i),
            Some(_) => read.push(i),
        }
    }
    let column = |of: &[usize]| -> PushedColumns<'_> {
        (
            of.iter().map(|&i| docs[i].case_id).collect(),
            of.iter().map(|&i| docs[i].form_id).collect(),
            of.iter().map(|&i| docs[i].doc).collect(),
            of.iter().map(|&i| seqs[i]).collect(),
        )
    };
    let mut stored: HashSet<String> = HashSet::with_capacity(docs.len());
    if !new.is_empty() {
        let (ids, forms, bodies, seq) = column(&new);
        for row in tx.query(
            "INSERT INTO cases (case_id, site_id, form_id, doc, seq, pushed_by)
             SELECT u.case_id, $1, u.form_id, u.doc, u.seq, $2
             FROM UNNEST($3::text[], $4::text[], $5::bytea[], $6::bigint[])
                 AS u (case_id, form_id, doc, seq)
             ON CONFLICT (case_id) DO NOTHING
             RETURNING case_id",
            &[&site, &device, &ids, &forms, &bodies, &seq],
        )? {
            stored.insert(row.try_get(0)?);
        }
    }
    if !read.is_empty() {
        let (ids, forms, bodies, seq) = column(&read);
        let was: Vec<i64> = read
            .iter()
            .map(|&i| docs[i].read_seq.map_or(-1, to_i64))
            .collect();
        for row in tx.query(
            "UPDATE cases c SET form_id = u.form_id, doc = u.doc, seq = u.seq,
                 pushed_by = COALESCE($2, c.pushed_by)
             FROM UNNEST($3::text[], $4::text[], $5::bytea[], $6::bigint[], $7::bigint[])
                 AS u (case_id, form_id, doc, seq, was)
             WHERE c.case_id = u.case_id AND c.site_id = $1 AND c.seq = u.was
             RETURNING c.case_id",
            &[&site, &device, &ids, &forms, &bodies, &seq, &was],
        )? {
            stored.insert(row.try_get(0)?);
        }
    }
    let mut out = Vec::with_capacity(docs.len());
    for (d, seq) in docs.iter().zip(&seqs) {
        if stored.contains(d.case_id) {
            out.push(Put::Stored(to_u64(*seq)));
            continue;
        }
        let holder = tx
            .query_opt(
                "SELECT site_id FROM cases WHERE case_id = $1",
                &[&d.case_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        out.push(refused_push(holder, site));
        break;
    }
    Ok(out)
}

/// Takes the next sequence number of `site`; the upsert locks the site's row until the
/// transaction ends, so concurrent writers get distinct numbers and commit them in order.
fn next_seq(tx: &mut Step<'_>, site: &str) -> Result<i64, ::postgres::Error> {
    tx.query_one(
        "INSERT INTO site_seq (site_id, seq) VALUES ($1, 1)
             ON CONFLICT (site_id) DO UPDATE SET seq = site_seq.seq + 1
             RETURNING seq",
        &[&site],
    )?
    .try_get(0)
}
