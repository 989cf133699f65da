//! How [`super::PostgresStorage`] runs its statements: each SQL text prepared once per
//! connection ([`Cached`]), a step in its own transaction or in the one open ([`Step`]), and
//! result rows read by column position for the shared row readers ([`Columns`]).

use crate::repository::Columns;
use ::postgres::types::ToSql;
use ::postgres::{Client, Row, Statement, Transaction};
use std::collections::HashMap;

impl Columns for Row {
    type Error = ::postgres::Error;
    fn text(&self, i: usize) -> Result<String, Self::Error> {
        self.try_get(i)
    }
    fn text_opt(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, Self::Error> {
        self.try_get(i)
    }
    fn int_opt(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        self.try_get(i)
    }
    fn flag(&self, i: usize) -> Result<bool, Self::Error> {
        self.try_get(i)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, Self::Error> {
        self.try_get(i)
    }
}

/// Where a step's statements run: its own transaction, or the one already open.
pub(super) enum Step<'a> {
    Own(Transaction<'a>),
    Open(Cached<'a>),
}

impl Step<'_> {
    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, ::postgres::Error> {
        match self {
            Step::Own(tx) => tx.execute(sql, params),
            Step::Open(db) => db.execute(sql, params),
        }
    }

    pub(super) fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ::postgres::Error> {
        match self {
            Step::Own(tx) => tx.query_one(sql, params),
            Step::Open(db) => db.query_one(sql, params),
        }
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, ::postgres::Error> {
        match self {
            Step::Own(tx) => tx.query_opt(sql, params),
            Step::Open(db) => db.query_opt(sql, params),
        }
    }

    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ::postgres::Error> {
        match self {
            Step::Own(tx) => tx.query(sql, params),
            Step::Open(db) => db.query(sql, params),
        }
    }
}

/// The connection with its prepared statements: each SQL text is prepared once per connection
/// (a statement given as text costs a round trip to prepare it every time).
pub(super) struct Cached<'a> {
    pub(super) client: &'a mut Client,
    pub(super) statements: &'a mut HashMap<&'static str, Statement>,
}

impl Cached<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, ::postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }

    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }

    pub(super) fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_one(&s, params)
    }

    /// Every row of `sql`, read by `read`.
    pub(super) fn all<T>(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        read: impl FnMut(&Row) -> Result<T, ::postgres::Error>,
    ) -> Result<Vec<T>, ::postgres::Error> {
        self.query(sql, params)?.iter().map(read).collect()
    }

    /// The row of `sql`, if any, read by `read`.
    pub(super) fn one<T>(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        read: impl FnOnce(&Row) -> Result<T, ::postgres::Error>,
    ) -> Result<Option<T>, ::postgres::Error> {
        self.query_opt(sql, params)?.as_ref().map(read).transpose()
    }
}
