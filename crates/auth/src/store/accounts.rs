use std::collections::HashMap;

use rand::rngs::OsRng;
use rand::TryRngCore;
use serde::{Serialize, Serializer};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::{is_unique_violation, StoreError};
use super::time::Timestamp;
use super::Store;
use crate::flow::{Account, AccountId, Alternatives, Balance, PassphraseCheck};
use crate::passphrase::{MatchRule, StoredPassphrase};
use crate::phone::E164;

/// An account to create. The passphrase arrives already hashed
/// ([`PassphraseHasher::hash`](crate::passphrase::PassphraseHasher::hash)),
/// so the clear phrase never reaches the store.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Generated when absent (`acct-` and 12 hex digits).
    pub id: Option<AccountId>,
    pub name: String,
    /// The first is the number on file that one-time codes go to.
    pub phones: Vec<E164>,
    pub passphrase: StoredPassphrase,
    pub balance: Balance,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRecord {
    pub id: AccountId,
    pub name: String,
    /// Never empty; the first is the SMS number.
    pub phones: Vec<E164>,
    #[serde(serialize_with = "balance_as_decimal")]
    pub balance: Balance,
    #[serde(skip)]
    pub passphrase: StoredPassphrase,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AccountRecord {
    /// Where one-time codes are sent.
    pub fn sms_number(&self) -> &E164 {
        // Reading a record checks that `phones` is not empty.
        &self.phones[0]
    }

    /// What the call flow needs to know.
    pub fn to_flow_account(&self) -> Account {
        Account {
            id: self.id.clone(),
            name: self.name.clone(),
            sms_number: self.sms_number().clone(),
            balance: self.balance,
            passphrase_words: Some(self.passphrase.word_count()),
        }
    }
}

fn balance_as_decimal<S: Serializer>(balance: &Balance, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(balance)
}

const ACCOUNT_COLUMNS: &str = "id, display_name, passphrase_phc, passphrase_words, \
                               balance_cents, created_at, updated_at";

impl Store {
    /// Creates an account with its numbers, all or nothing.
    pub async fn add_account(
        &self,
        new: NewAccount,
        now: Timestamp,
    ) -> Result<AccountRecord, StoreError> {
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(StoreError::EmptyName);
        }
        if new.phones.is_empty() {
            return Err(StoreError::NoPhone);
        }
        for (i, phone) in new.phones.iter().enumerate() {
            if new.phones[..i].contains(phone) {
                return Err(StoreError::DuplicatePhone(phone.clone()));
            }
        }
        let id = match new.id {
            Some(id) => validate_id(id)?,
            None => generate_id()?,
        };
        let words = i64::try_from(new.passphrase.word_count())
            .map_err(|_| StoreError::corrupt("passphrase word count", "too large"))?;

        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, display_name, passphrase_phc, passphrase_words, \
             balance_cents, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id.0.clone())
        .bind(name.clone())
        .bind(new.passphrase.phc().to_string())
        .bind(words)
        .bind(new.balance.cents)
        .bind(now.unix_millis())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::DuplicateAccount(id)),
            other => other?,
        };
        for (position, phone) in new.phones.iter().enumerate() {
            let inserted = sqlx::query(
                "INSERT INTO account_phones (number, account_id, position) VALUES ($1, $2, $3)",
            )
            .bind(phone.as_str().to_string())
            .bind(id.0.clone())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::DuplicatePhone(phone.clone()))
                }
                other => other?,
            };
        }
        tx.commit().await?;
        Ok(AccountRecord {
            id,
            name,
            phones: new.phones,
            balance: new.balance,
            passphrase: new.passphrase,
            created_at: now,
            updated_at: now,
        })
    }

    /// Every account, oldest first.
    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        let phone_rows = sqlx::query(
            "SELECT account_id, number FROM account_phones ORDER BY account_id, position",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut phones: HashMap<String, Vec<E164>> = HashMap::new();
        for row in &phone_rows {
            let account: String = row.try_get("account_id")?;
            phones.entry(account).or_default().push(phone_from(row)?);
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                record_from(row, phones.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<AccountRecord, StoreError> {
        self.find_account(id)
            .await?
            .ok_or_else(|| StoreError::UnknownAccount(id.clone()))
    }

    pub async fn find_account(&self, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        ))
        .bind(id.0.clone())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let phone_rows = sqlx::query(
            "SELECT number FROM account_phones WHERE account_id = $1 ORDER BY position",
        )
        .bind(id.0.clone())
        .fetch_all(&self.pool)
        .await?;
        let phones = phone_rows
            .iter()
            .map(phone_from)
            .collect::<Result<_, _>>()?;
        record_from(&row, phones).map(Some)
    }

    /// The account a number belongs to, if any.
    pub async fn find_by_phone(&self, number: &E164) -> Result<Option<AccountRecord>, StoreError> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM account_phones WHERE number = $1")
                .bind(number.as_str().to_string())
                .fetch_optional(&self.pool)
                .await?;
        match owner {
            Some(id) => self.find_account(&AccountId(id)).await,
            None => Ok(None),
        }
    }

    pub async fn set_passphrase(
        &self,
        id: &AccountId,
        passphrase: &StoredPassphrase,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let words = i64::try_from(passphrase.word_count())
            .map_err(|_| StoreError::corrupt("passphrase word count", "too large"))?;
        let done = sqlx::query(
            "UPDATE accounts SET passphrase_phc = $1, passphrase_words = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(passphrase.phc().to_string())
        .bind(words)
        .bind(now.unix_millis())
        .bind(id.0.clone())
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), id)
    }

    pub async fn set_balance(
        &self,
        id: &AccountId,
        balance: Balance,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE accounts SET balance_cents = $1, updated_at = $2 WHERE id = $3")
                .bind(balance.cents)
                .bind(now.unix_millis())
                .bind(id.0.clone())
                .execute(&self.pool)
                .await?;
        found(done.rows_affected(), id)
    }

    /// Removes the account, its numbers and its codes. Failure counts,
    /// SMS sends and audit rows stay: they are history.
    pub async fn remove_account(&self, id: &AccountId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Explicit rather than relying on ON DELETE CASCADE, which SQLite
        // applies only when foreign keys are switched on.
        for table in ["account_phones", "one_time_codes"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(id.0.clone())
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id.0.clone())
            .execute(&mut *tx)
            .await?;
        found(done.rows_affected(), id)?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks recognizer alternatives against the account's passphrase.
    /// Argon2 is deliberately slow, so it runs on a blocking thread.
    pub async fn check_passphrase(
        &self,
        id: &AccountId,
        alternatives: &Alternatives,
        rule: &MatchRule,
    ) -> Result<bool, StoreError> {
        let asked = std::time::Instant::now();
        let stored = self.get_account(id).await?.passphrase;
        let read = std::time::Instant::now();
        let alternatives = alternatives.clone();
        let rule = *rule;
        // Checks beyond the cores' count wait their turn, first come first
        // served: run all at once, every one of them (and the recognizer
        // beside them) would finish late instead of the first ones on time.
        let _slot = argon2_slots()
            .acquire()
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?;
        let (decided, started, hashed) = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let decided =
                stored.decide_heard(alternatives.timed_texts(), alternatives.nuclei(), &rule);
            (decided, started, std::time::Instant::now())
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?;
        let ms = |a: std::time::Instant, b: std::time::Instant| {
            b.saturating_duration_since(a).as_secs_f64() * 1000.0
        };
        let decided = decided.map_err(StoreError::from)?;
        tracing::debug!(
            store_ms = ms(asked, read),
            blocking_wait_ms = ms(read, started),
            argon2_ms = ms(started, hashed),
            verifications = decided.verifications,
            "passphrase check timed"
        );
        // The verdicts only: a matched run's syllables or the nuclei
        // within it would tell the phrase's length.
        tracing::debug!(
            accepted = decided.accepted,
            merged = decided.merged,
            verdicts = ?decided.alternatives.iter().map(|c| c.verdict).collect::<Vec<_>>(),
            "passphrase decision"
        );
        Ok(decided.accepted)
    }

    /// [`Store::check_passphrase`] as the flow's answer: a store failure
    /// is [`PassphraseCheck::Error`], logged without the alternatives.
    pub async fn verify_passphrase(
        &self,
        id: &AccountId,
        alternatives: &Alternatives,
        rule: &MatchRule,
    ) -> PassphraseCheck {
        match self.check_passphrase(id, alternatives, rule).await {
            Ok(true) => PassphraseCheck::Match,
            Ok(false) => PassphraseCheck::NoMatch,
            Err(error) => {
                tracing::warn!(account = %id, %error, "passphrase check failed");
                PassphraseCheck::Error
            }
        }
    }
}

/// Passphrase checks (Argon2, CPU- and memory-bound) running at once: one
/// per core.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

fn found(rows: u64, id: &AccountId) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::UnknownAccount(id.clone()))
    } else {
        Ok(())
    }
}

fn validate_id(id: AccountId) -> Result<AccountId, StoreError> {
    let ok = (1..=64).contains(&id.0.len())
        && id
            .0
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(StoreError::BadAccountId(id.0))
    }
}

fn generate_id() -> Result<AccountId, StoreError> {
    let mut bytes = [0u8; 6];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::Otp(crate::otp::OtpError::Random(e.to_string())))?;
    Ok(AccountId(format!("acct-{}", crate::hex::encode(&bytes))))
}

fn phone_from(row: &AnyRow) -> Result<E164, StoreError> {
    let number: String = row.try_get("number")?;
    E164::parse(&number).map_err(|e| StoreError::corrupt("phone number", e))
}

fn record_from(row: &AnyRow, phones: Vec<E164>) -> Result<AccountRecord, StoreError> {
    let id: String = row.try_get("id")?;
    if phones.is_empty() {
        return Err(StoreError::corrupt(
            "account",
            format!("account {id:?} has no phone number"),
        ));
    }
    let phc: String = row.try_get("passphrase_phc")?;
    let words: i64 = row.try_get("passphrase_words")?;
    let words =
        usize::try_from(words).map_err(|e| StoreError::corrupt("passphrase word count", e))?;
    let passphrase = StoredPassphrase::from_parts(phc, words)
        .map_err(|e| StoreError::corrupt("passphrase hash", e))?;
    Ok(AccountRecord {
        id: AccountId(id),
        name: row.try_get("display_name")?,
        phones,
        balance: Balance {
            cents: row.try_get("balance_cents")?,
        },
        passphrase,
        created_at: Timestamp::from_unix_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_unix_millis(row.try_get("updated_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_or_generated() {
        assert!(validate_id(AccountId("acct-1_A".to_string())).is_ok());
        for bad in ["", "a b", "x;DROP", &"a".repeat(65)] {
            let err = validate_id(AccountId(bad.to_string())).unwrap_err();
            assert!(matches!(err, StoreError::BadAccountId(_)), "{bad}");
        }
        let a = generate_id().unwrap();
        let b = generate_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), "acct-".len() + 12);
        assert!(validate_id(a).is_ok());
    }
}
