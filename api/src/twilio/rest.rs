//! A small client for Twilio's REST API: what number provisioning needs —
//! search available numbers, buy one with its webhooks set, release one —
//! and what the reconciler needs — a call's status, and the calls it dialed —
//! authenticated per request with a tenant's account SID and auth token.
//!
//! The base URL is configuration (`--twilio-api-base`, default
//! [`DEFAULT_BASE`]), so tests point it at a local fake and a staging proxy can
//! sit in between. Bodies are form-encoded, answers JSON, as Twilio's API is.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Twilio's API, when nothing else is configured.
pub const DEFAULT_BASE: &str = "https://api.twilio.com";

/// How long one Twilio request may take: a console user is waiting.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a Twilio request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// Twilio answered with an error (its status, code and message).
    #[error("twilio answered {status}: {message}{}", code.map(|c| format!(" (error {c})")).unwrap_or_default())]
    Twilio {
        /// The HTTP status Twilio answered.
        status: u16,
        /// Twilio's error code (`21422`: the number is not available), if given.
        code: Option<u32>,
        /// Twilio's message.
        message: String,
    },
    /// Twilio could not be reached, timed out, or answered something unreadable.
    #[error("cannot reach twilio: {0}")]
    Transport(String),
}

impl From<reqwest::Error> for RestError {
    fn from(e: reqwest::Error) -> Self {
        // Without the URL: it holds the account SID.
        RestError::Transport(e.without_url().to_string())
    }
}

/// A tenant's Twilio credentials.
#[derive(Clone, Copy)]
pub struct Account<'a> {
    /// `AC…`.
    pub sid: &'a str,
    /// The auth token (the basic-auth password).
    pub token: &'a str,
}

impl std::fmt::Debug for Account<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// Local or toll-free numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum NumberType {
    /// Geographic numbers (`Local.json`), searchable by area code.
    #[default]
    Local,
    /// Toll-free numbers (`TollFree.json`).
    TollFree,
}

impl NumberType {
    fn resource(self) -> &'static str {
        match self {
            NumberType::Local => "Local",
            NumberType::TollFree => "TollFree",
        }
    }
}

/// What a search asks for.
#[derive(Debug, Clone)]
pub struct Search {
    /// ISO country, `US`.
    pub country: String,
    /// Local or toll-free.
    pub number_type: NumberType,
    /// Three-digit area code, for local numbers.
    pub area_code: Option<String>,
    /// At most this many results.
    pub limit: u32,
}

/// One number Twilio offers, as Twilio names its fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Available {
    /// E.164.
    pub phone_number: String,
    /// `(415) 555-0100`.
    #[serde(default)]
    pub friendly_name: String,
    /// City, when Twilio knows it.
    #[serde(default)]
    pub locality: Option<String>,
    /// State or province.
    #[serde(default)]
    pub region: Option<String>,
    /// ISO country.
    #[serde(default)]
    pub iso_country: Option<String>,
    /// `voice`, `SMS`, `MMS` flags.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// What a number can do.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Capabilities {
    /// Takes calls.
    #[serde(default)]
    pub voice: bool,
    /// Takes text messages.
    #[serde(default, rename = "SMS")]
    pub sms: bool,
}

#[derive(Deserialize)]
struct AvailableList {
    #[serde(default)]
    available_phone_numbers: Vec<Available>,
}

/// A number the account owns.
#[derive(Debug, Clone, Deserialize)]
pub struct Incoming {
    /// `PN…`: what releasing it needs.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// Twilio's label.
    #[serde(default)]
    pub friendly_name: String,
    /// Where its calls go.
    #[serde(default)]
    pub voice_url: Option<String>,
    /// Where its status callbacks go.
    #[serde(default)]
    pub status_callback: Option<String>,
}

#[derive(Deserialize)]
struct IncomingList {
    #[serde(default)]
    incoming_phone_numbers: Vec<Incoming>,
}

/// A call as Twilio's `Calls` resource describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    /// `CA…`.
    pub sid: String,
    /// The call that dialed this one (for a `<Dial>` leg).
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    /// Who was called (E.164 for a phone number).
    #[serde(default)]
    pub to: Option<String>,
    /// `queued`, `ringing`, `in-progress`, `canceled`, `completed`, `busy`, `no-answer` or `failed`.
    pub status: String,
    /// Seconds, as a string; empty or absent until the call ends.
    #[serde(default)]
    pub duration: Option<String>,
    /// RFC 2822, when it started.
    #[serde(default)]
    pub start_time: Option<String>,
    /// RFC 2822, once it ended.
    #[serde(default)]
    pub end_time: Option<String>,
}

#[derive(Deserialize)]
struct CallList {
    #[serde(default)]
    calls: Vec<Call>,
}

/// Twilio's error body.
#[derive(Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

/// The webhooks a bought number is set up with.
#[derive(Debug, Clone)]
pub struct Hooks {
    /// `VoiceUrl` (POST).
    pub voice_url: String,
    /// `StatusCallback` (POST).
    pub status_callback: String,
}

/// The client: a base URL and a connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TwilioRest {
    base: String,
    /// Why there is no client, when TLS could not be set up: every request
    /// then fails with it instead of the process panicking at start.
    http: Result<reqwest::Client, String>,
}

impl TwilioRest {
    /// A client for the API at `base` (`https://api.twilio.com`, or a fake).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("no http client (tls setup failed): {e}"));
        if let Err(e) = &http {
            tracing::error!(error = %e, "twilio rest client unavailable: provisioning will fail");
        }
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn http(&self) -> Result<&reqwest::Client, RestError> {
        self.http
            .as_ref()
            .map_err(|e| RestError::Transport(e.clone()))
    }

    fn url(&self, account: Account<'_>, rest: &str) -> String {
        format!("{}/2010-04-01/Accounts/{}/{rest}", self.base, account.sid)
    }

    /// Numbers that can be bought now, voice-enabled.
    pub async fn search(
        &self,
        account: Account<'_>,
        q: &Search,
    ) -> Result<Vec<Available>, RestError> {
        let url = self.url(
            account,
            &format!(
                "AvailablePhoneNumbers/{}/{}.json",
                q.country,
                q.number_type.resource()
            ),
        );
        let mut query = vec![
            ("VoiceEnabled", "true".to_owned()),
            ("PageSize", q.limit.to_string()),
        ];
        if let Some(a) = &q.area_code {
            query.push(("AreaCode", a.clone()));
        }
        let resp = self
            .http()?
            .get(url)
            .basic_auth(account.sid, Some(account.token))
            .query(&query)
            .send()
            .await?;
        Ok(read::<AvailableList>(resp).await?.available_phone_numbers)
    }

    /// Buys `phone_number` and points its calls and status callbacks at `hooks`.
    pub async fn buy(
        &self,
        account: Account<'_>,
        phone_number: &str,
        hooks: &Hooks,
    ) -> Result<Incoming, RestError> {
        let form = [
            ("PhoneNumber", phone_number),
            ("VoiceUrl", &hooks.voice_url),
            ("VoiceMethod", "POST"),
            ("StatusCallback", &hooks.status_callback),
            ("StatusCallbackMethod", "POST"),
        ];
        let resp = self
            .http()?
            .post(self.url(account, "IncomingPhoneNumbers.json"))
            .basic_auth(account.sid, Some(account.token))
            .form(&form)
            .send()
            .await?;
        read(resp).await
    }

    /// The account's number `phone_number`, if it owns it.
    pub async fn find(
        &self,
        account: Account<'_>,
        phone_number: &str,
    ) -> Result<Option<Incoming>, RestError> {
        let resp = self
            .http()?
            .get(self.url(account, "IncomingPhoneNumbers.json"))
            .basic_auth(account.sid, Some(account.token))
            .query(&[("PhoneNumber", phone_number)])
            .send()
            .await?;
        let list: IncomingList = read(resp).await?;
        Ok(list
            .incoming_phone_numbers
            .into_iter()
            .find(|n| n.phone_number == phone_number))
    }

    /// The call `sid` (`CA…`) now.
    pub async fn call(&self, account: Account<'_>, sid: &str) -> Result<Call, RestError> {
        let resp = self
            .http()?
            .get(self.url(account, &format!("Calls/{sid}.json")))
            .basic_auth(account.sid, Some(account.token))
            .send()
            .await?;
        read(resp).await
    }

    /// The calls `parent` (`CA…`) dialed, newest first (one page: a call
    /// dials a few legs, not fifty).
    pub async fn child_calls(
        &self,
        account: Account<'_>,
        parent: &str,
    ) -> Result<Vec<Call>, RestError> {
        let resp = self
            .http()?
            .get(self.url(account, "Calls.json"))
            .basic_auth(account.sid, Some(account.token))
            .query(&[("ParentCallSid", parent), ("PageSize", "50")])
            .send()
            .await?;
        Ok(read::<CallList>(resp).await?.calls)
    }

    /// Gives the number `sid` (`PN…`) back to Twilio. Already gone is not an error.
    pub async fn release(&self, account: Account<'_>, sid: &str) -> Result<(), RestError> {
        let resp = self
            .http()?
            .delete(self.url(account, &format!("IncomingPhoneNumbers/{sid}.json")))
            .basic_auth(account.sid, Some(account.token))
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        fail_unless_ok(resp).await.map(drop)
    }
}

/// The response, or Twilio's error as a [`RestError::Twilio`].
async fn fail_unless_ok(resp: reqwest::Response) -> Result<reqwest::Response, RestError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let body: Option<TwilioError> = serde_json::from_str(&text).ok();
    let code = body.as_ref().and_then(|b| b.code);
    let mut message = body
        .and_then(|b| b.message)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    if status == reqwest::StatusCode::UNAUTHORIZED {
        // Twilio says only "Authenticate": say which credentials.
        message =
            format!("the tenant's twilio account sid and auth token were refused ({message})");
    }
    Err(RestError::Twilio {
        status: status.as_u16(),
        code,
        message,
    })
}

async fn read<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, RestError> {
    let resp = fail_unless_ok(resp).await?;
    let bytes = resp.bytes().await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| RestError::Transport(format!("unreadable answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_twilios_layout() {
        let c = TwilioRest::new("http://127.0.0.1:9/");
        let a = Account {
            sid: "AC1",
            token: "s3cret",
        };
        assert_eq!(
            c.url(a, "IncomingPhoneNumbers.json"),
            "http://127.0.0.1:9/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json"
        );
        // Logs never see the token.
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn the_https_client_builds() {
        // rustls with the platform's roots: what talking to api.twilio.com needs.
        assert!(TwilioRest::new(DEFAULT_BASE).http.is_ok());
    }

    #[test]
    fn twilio_errors_read_well() {
        let e = RestError::Twilio {
            status: 400,
            code: Some(21422),
            message: "number not available".into(),
        };
        assert_eq!(
            e.to_string(),
            "twilio answered 400: number not available (error 21422)"
        );
    }
}
