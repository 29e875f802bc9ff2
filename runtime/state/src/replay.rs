//! The record of used token ids, shared by every replica: one row per
//! `(iss, jti)` digest, with the digest of the token that used it, kept
//! until the token could no longer verify anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use airlock_identity::SharedReplay;

use crate::Database;

/// Expired rows are deleted after every this many uses (by the process
/// that makes the use, one indexed `DELETE`).
const PURGE_EVERY: u64 = 1024;

/// [`SharedReplay`] in PostgreSQL. The check and the record are one
/// statement, so two replicas cannot both accept a token.
#[derive(Debug)]
pub struct PgReplay {
    database: Arc<Database>,
    uses: AtomicU64,
}

impl PgReplay {
    /// The record in `database` (migrated: see [`crate::migrate`]).
    pub fn new(database: Arc<Database>) -> Self {
        Self { database, uses: AtomicU64::new(0) }
    }

    /// Deletes rows whose tokens expired before `now` (seconds since the
    /// epoch). Returns how many.
    pub fn purge(&self, now: u64) -> Result<u64, crate::StateError> {
        let now = seconds(now);
        self.database.run(move |client| async move {
            client.execute("DELETE FROM replay WHERE forget_after < $1", &[&now]).await
        })
    }
}

impl SharedReplay for PgReplay {
    fn consume(
        &self,
        key: [u8; 32],
        token: [u8; 32],
        same_token_allowed: bool,
        forget_after: u64,
    ) -> Result<bool, String> {
        let now = seconds(unix_now());
        let until = seconds(forget_after);
        let accepted = self
            .database
            .run(move |client| async move {
                // The insert wins if the id is new or its row has expired;
                // otherwise the row that stands says whether this is the
                // token that used it.
                let row = client
                    .query_one(
                        "WITH taken AS (
                             INSERT INTO replay AS r (key, token, forget_after) VALUES ($1, $2, $3)
                             ON CONFLICT (key) DO UPDATE
                                 SET token = EXCLUDED.token, forget_after = EXCLUDED.forget_after
                                 WHERE r.forget_after < $4
                             RETURNING 1
                         )
                         SELECT EXISTS (SELECT 1 FROM taken),
                                EXISTS (SELECT 1 FROM replay WHERE key = $1 AND token = $2 AND $5)",
                        &[&key.as_slice(), &token.as_slice(), &until, &now, &same_token_allowed],
                    )
                    .await?;
                Ok(row.get::<_, bool>(0) || row.get::<_, bool>(1))
            })
            .map_err(|e| e.to_string())?;
        if self.uses.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
            && let Err(error) = self.purge(unix_now())
        {
            tracing::warn!(%error, "cannot purge expired token ids");
        }
        Ok(accepted)
    }
}

fn seconds(time: u64) -> i64 {
    i64::try_from(time).unwrap_or(i64::MAX)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
