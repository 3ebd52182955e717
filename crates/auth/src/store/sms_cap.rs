use std::time::Duration;

use super::config::SmsCap;
use super::error::StoreError;
use super::time::Timestamp;
use super::Store;
use crate::flow::AccountId;
use crate::phone::E164;

const HOUR: Duration = Duration::from_secs(3600);

impl Store {
    /// SMS sends to the account in the hour before `now`, from any node.
    pub async fn sms_sends_in_last_hour(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sms_sends WHERE account_id = $1 AND at > $2")
                .bind(account.0.clone())
                .bind(now.saturating_sub(HOUR).unix_millis())
                .fetch_one(&self.pool)
                .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Records a send if the account is under its hourly cap and says
    /// whether it was. Check and insert are one statement, so two nodes
    /// racing can overshoot the cap only by the sends in flight at once.
    pub async fn reserve_sms_send(
        &self,
        account: &AccountId,
        to: &E164,
        cap: &SmsCap,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO sms_sends (account_id, to_number, at) \
             SELECT $1, $2, $3 WHERE \
             (SELECT COUNT(*) FROM sms_sends WHERE account_id = $1 AND at > $4) < $5",
        )
        .bind(account.0.clone())
        .bind(to.as_str().to_string())
        .bind(now.unix_millis())
        .bind(now.saturating_sub(HOUR).unix_millis())
        .bind(i64::from(cap.per_account_per_hour))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
