use reqwest::header::AUTHORIZATION;
use reqwest::{Client, RequestBuilder, StatusCode};

use super::config::CrmConfig;
use super::error::CrmError;
use super::wire::{AccountJson, VerifyRequest, VerifyResponse};
use crate::flow::{Account, AccountId, Alternatives, LookupResult, PassphraseCheck};
use crate::phone::E164;
use crate::secret::SecretString;

/// Calls the CRM's lookup and verification endpoints.
#[derive(Clone)]
pub struct CrmClient {
    http: Client,
    config: CrmConfig,
}

impl CrmClient {
    pub fn new(config: &CrmConfig) -> Result<Self, CrmError> {
        let http = Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| CrmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            config: config.clone(),
        })
    }

    pub fn can_lookup(&self) -> bool {
        self.config.lookup_url.is_some()
    }

    pub fn can_verify(&self) -> bool {
        self.config.verify_url.is_some()
    }

    /// The account the CRM has for `number`; `None` on 404.
    pub async fn lookup(&self, number: &E164) -> Result<Option<Account>, CrmError> {
        let url = self
            .config
            .lookup_url
            .as_deref()
            .ok_or(CrmError::NotConfigured("lookup"))?;
        let request = self.http.get(url).query(&[("number", number.as_str())]);
        let response = self
            .authorised(request)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => {
                let json: AccountJson = response
                    .json()
                    .await
                    .map_err(|e| CrmError::BadResponse(e.without_url().to_string()))?;
                json.into_account().map(Some)
            }
            status => Err(CrmError::Status(status.as_u16())),
        }
    }

    /// Whether the CRM says one of the alternatives is the passphrase.
    pub async fn verify_passphrase(
        &self,
        account: &AccountId,
        alternatives: &Alternatives,
    ) -> Result<bool, CrmError> {
        let url = self
            .config
            .verify_url
            .as_deref()
            .ok_or(CrmError::NotConfigured("verify"))?;
        let body = VerifyRequest {
            account: &account.0,
            alternatives: alternatives.texts().collect(),
        };
        let request = self.http.post(url).json(&body);
        let response = self
            .authorised(request)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(CrmError::Status(status.as_u16()));
        }
        let answer: VerifyResponse = response
            .json()
            .await
            .map_err(|e| CrmError::BadResponse(e.without_url().to_string()))?;
        Ok(answer.matched)
    }

    /// [`CrmClient::lookup`] as the flow's answer; failures are logged
    /// and become [`LookupResult::Failed`].
    pub async fn lookup_for_flow(&self, number: &E164) -> LookupResult {
        match self.lookup(number).await {
            Ok(Some(account)) => LookupResult::Found(account),
            Ok(None) => LookupResult::NotFound,
            Err(error) => {
                tracing::warn!(%number, %error, "CRM lookup failed");
                LookupResult::Failed
            }
        }
    }

    /// [`CrmClient::verify_passphrase`] as the flow's answer; failures are
    /// logged and become [`PassphraseCheck::Error`].
    pub async fn verify_for_flow(
        &self,
        account: &AccountId,
        alternatives: &Alternatives,
    ) -> PassphraseCheck {
        match self.verify_passphrase(account, alternatives).await {
            Ok(true) => PassphraseCheck::Match,
            Ok(false) => PassphraseCheck::NoMatch,
            Err(error) => {
                tracing::warn!(%account, %error, "CRM passphrase check failed");
                PassphraseCheck::Error
            }
        }
    }

    fn authorised(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.config.bearer_token {
            Some(token) => request.header(AUTHORIZATION, bearer(token)),
            None => request,
        }
    }

    fn classify(&self, error: reqwest::Error) -> CrmError {
        let error = error.without_url();
        if error.is_timeout() {
            CrmError::Timeout(self.config.timeout)
        } else if error.is_connect() {
            CrmError::Connect(error.to_string())
        } else {
            CrmError::Request(error.to_string())
        }
    }
}

fn bearer(token: &SecretString) -> String {
    format!("Bearer {}", token.expose())
}

impl std::fmt::Debug for CrmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmClient")
            .field("lookup", &self.can_lookup())
            .field("verify", &self.can_verify())
            .finish_non_exhaustive()
    }
}
