use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};

use super::config::HttpPolicy;
use super::error::SmsError;

pub(super) fn client(policy: &HttpPolicy) -> Result<Client, SmsError> {
    Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(policy.connect_timeout)
        .build()
        .map_err(|e| SmsError::Config(format!("cannot build the HTTP client: {e}")))
}

/// A 2xx answer and how many requests it took.
pub(super) struct Delivered {
    pub response: Response,
    pub attempts: u32,
}

/// Sends the request built by `request`, again after connection failures
/// and 5xx answers, at most `policy.max_attempts` times in all.
pub(super) async fn send_with_retry(
    policy: &HttpPolicy,
    request: impl Fn() -> RequestBuilder,
) -> Result<Delivered, SmsError> {
    let max_attempts = policy.max_attempts.max(1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match request().send().await {
            Ok(response) if response.status().is_success() => {
                return Ok(Delivered { response, attempts })
            }
            Ok(response) => {
                let status = response.status();
                let code = gateway_code(response).await;
                let error = SmsError::Status {
                    status: status.as_u16(),
                    attempts,
                    code,
                };
                if !status.is_server_error() {
                    return Err(error);
                }
                error
            }
            Err(e) => {
                let error = SmsError::from_reqwest(e, attempts, policy.timeout);
                if !matches!(error, SmsError::Connect { .. }) {
                    return Err(error);
                }
                error
            }
        };
        if attempts >= max_attempts {
            return Err(error);
        }
        tracing::warn!(attempt = attempts, %error, "SMS gateway request failed; retrying");
        tokio::time::sleep(backoff(policy.backoff, attempts)).await;
    }
}

fn backoff(base: Duration, attempts_so_far: u32) -> Duration {
    base.saturating_mul(1 << attempts_so_far.saturating_sub(1).min(16))
}

/// Twilio-style error bodies carry a numeric `code`; nothing else of the
/// reply is kept, as it may quote the message.
async fn gateway_code(response: Response) -> Option<i64> {
    let body: serde_json::Value = response.json().await.ok()?;
    body.get("code")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 3), Duration::from_millis(400));
        assert!(backoff(base, 1000) <= Duration::from_secs(7000));
    }
}
