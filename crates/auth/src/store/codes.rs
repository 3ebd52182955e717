use sqlx::Row;
use subtle::ConstantTimeEq;

use super::error::StoreError;
use super::time::Timestamp;
use super::Store;
use crate::flow::AccountId;
use crate::otp::{
    generate_code, salted_digest, CodeCheck, OsSecretSource, OtpCode, OtpPolicy, SecretSource,
    SALT_LEN,
};

/// A stored one-time code, for checking what the caller types on any node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeId(pub i64);

impl Store {
    /// Generates a code from the OS CSPRNG and stores it hashed. The clear
    /// code is returned for the SMS gateway and kept nowhere.
    pub async fn issue_code(
        &self,
        account: &AccountId,
        call_id: &str,
        policy: &OtpPolicy,
        now: Timestamp,
    ) -> Result<(CodeId, OtpCode), StoreError> {
        policy.validate()?;
        let code = generate_code(&mut OsSecretSource, policy.length)?;
        let id = self.save_code(account, call_id, &code, policy, now).await?;
        Ok((id, code))
    }

    /// Stores a code made elsewhere (the flow's `SendCode`) as
    /// SHA-256(salt ‖ code) with a fresh salt, valid for `policy.lifetime`
    /// and `policy.max_tries` wrong entries.
    pub async fn save_code(
        &self,
        account: &AccountId,
        call_id: &str,
        code: &OtpCode,
        policy: &OtpPolicy,
        now: Timestamp,
    ) -> Result<CodeId, StoreError> {
        policy.validate()?;
        let mut salt = [0u8; SALT_LEN];
        OsSecretSource.fill(&mut salt)?;
        let digest = salted_digest(&salt, code.expose());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO one_time_codes (account_id, call_id, salt_hex, digest_hex, issued_at, \
             expires_at, tries_left) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(account.0.clone())
        .bind(call_id.to_string())
        .bind(crate::hex::encode(&salt))
        .bind(crate::hex::encode(&digest))
        .bind(now.unix_millis())
        .bind(now.saturating_add(policy.lifetime).unix_millis())
        .bind(i64::from(policy.max_tries))
        .fetch_one(&self.pool)
        .await?;
        Ok(CodeId(id))
    }

    /// Checks what the caller typed. Single use across nodes: accepting or
    /// spending a try is a conditional update that only one node can win.
    pub async fn check_code(
        &self,
        id: CodeId,
        entered: &str,
        now: Timestamp,
    ) -> Result<CodeCheck, StoreError> {
        let row = sqlx::query(
            "SELECT salt_hex, digest_hex, expires_at, tries_left, used_at \
             FROM one_time_codes WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::UnknownCode(id.0))?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let tries_left: i64 = row.try_get("tries_left")?;
        if used_at.is_some() || tries_left <= 0 {
            return Ok(CodeCheck::Spent);
        }
        let expires_at: i64 = row.try_get("expires_at")?;
        if now.unix_millis() >= expires_at {
            return Ok(CodeCheck::Expired);
        }
        let salt = unhex(&row.try_get::<String, _>("salt_hex")?)?;
        let digest = unhex(&row.try_get::<String, _>("digest_hex")?)?;
        let right = bool::from(salted_digest(&salt, entered).as_slice().ct_eq(&digest));

        const STILL_OPEN: &str =
            "id = $1 AND used_at IS NULL AND tries_left > 0 AND expires_at > $2";
        if right {
            let done = sqlx::query(&format!(
                "UPDATE one_time_codes SET used_at = $2 WHERE {STILL_OPEN}"
            ))
            .bind(id.0)
            .bind(now.unix_millis())
            .execute(&self.pool)
            .await?;
            return Ok(if done.rows_affected() == 1 {
                CodeCheck::Accepted
            } else {
                CodeCheck::Spent
            });
        }
        // SET expressions see the row as it was, so the last try marks
        // the code used in the same statement.
        let left: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE one_time_codes SET tries_left = tries_left - 1, \
             used_at = CASE WHEN tries_left <= 1 THEN $2 ELSE NULL END \
             WHERE {STILL_OPEN} RETURNING tries_left"
        ))
        .bind(id.0)
        .bind(now.unix_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match left {
            None => CodeCheck::Spent,
            Some(n) if n <= 0 => CodeCheck::Exhausted,
            Some(n) => CodeCheck::Rejected {
                tries_left: u32::try_from(n).unwrap_or(u32::MAX),
            },
        })
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, StoreError> {
    crate::hex::decode(text)
        .ok_or_else(|| StoreError::corrupt("one-time code row", "salt or digest is not hex"))
}
