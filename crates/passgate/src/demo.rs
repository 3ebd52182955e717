//! `passgate demo`: no configuration at all. SQLite under ./data, codes
//! printed to the log, and one account to call as, created on first start.

use std::net::SocketAddr;

use auth::phone::E164;

use crate::config::Config;

pub const DEMO_NAME: &str = "Nelson Medina";
pub const DEMO_NUMBER: &str = "+15550100001";
pub const DEMO_BALANCE: &str = "1234.56";

/// The passphrase in the language of the installed model: the Korean test
/// model (the only one these machines can install) hears "하얀 말", "white
/// horse"; an English model hears the seed's "white horse".
pub fn demo_passphrase(config: &Config) -> &'static str {
    let model = config.asr.model.to_string_lossy();
    if model.contains("-en") {
        "white horse"
    } else {
        "하얀 말"
    }
}

/// Creates the demo account unless its number already has one.
pub async fn prepare(config: &Config) -> anyhow::Result<()> {
    let store = crate::accounts::open(config).await?;
    let number = E164::parse(DEMO_NUMBER)?;
    if store.find_by_phone(&number).await?.is_none() {
        let phones = [DEMO_NUMBER.to_string()];
        let new = crate::accounts::NewAccountInput {
            name: DEMO_NAME,
            phones: &phones,
            passphrase: demo_passphrase(config),
            balance: DEMO_BALANCE,
            id: Some("nelson".into()),
        };
        let id = crate::accounts::add(&store, &config.flow.numbering, new, "demo").await?;
        println!("created the demo account {id}: {DEMO_NAME}, {DEMO_NUMBER}");
    }
    store.close().await;
    Ok(())
}

/// Where `passgate demo` takes browsers' SIP over WebSocket unless `--ws`
/// says otherwise (loopback only: the demo has no token).
pub const DEMO_WS_LISTEN: &str = "127.0.0.1:8088";

/// The demo account as the test phone page shows it, when the node is the demo.
pub fn shown_account(config: &Config) -> Option<crate::phone_page::DemoAccount> {
    config
        .phone
        .show_demo_account
        .then(|| crate::phone_page::DemoAccount {
            number: DEMO_NUMBER.to_string(),
            name: DEMO_NAME.to_string(),
            passphrase: demo_passphrase(config).to_string(),
        })
}

/// What the demo's console shows: the account, its passphrase, the texts.
pub fn console(config: &Config) -> crate::console::Demo {
    crate::console::Demo {
        name: DEMO_NAME,
        number: DEMO_NUMBER,
        passphrase: demo_passphrase(config),
        sms: Default::default(),
    }
}

pub fn print_instructions(listen: SocketAddr, http: SocketAddr) {
    println!("{}\n", instructions(listen, http).join("\n"));
}

/// What `passgate demo` prints first: the test phone's address, then the
/// console's, where the call is watched.
fn instructions(listen: SocketAddr, http: SocketAddr) -> Vec<String> {
    vec![
        format!("Call from a browser: http://{http}/phone (the test phone)"),
        format!("Console: http://{http}/console/"),
        String::new(),
        "Passgate demo".to_string(),
        String::new(),
        format!("Call sip:passgate@{listen} from a softphone (UDP or TCP; PCMU or PCMA)."),
        format!(
            "Calling as {DEMO_NUMBER} ({DEMO_NAME}) goes straight to the passphrase, \"하얀 말\""
        ),
        "(\"white horse\" in the Korean test model); any other number is asked to type the"
            .to_string(),
        "account's number (5550100001). One-time codes are shown on the console and".to_string(),
        "printed in this log.".to_string(),
        String::new(),
        "With SIPp, from the repository root:".to_string(),
        "  sipp -sf tests/sipp/basic_call.xml -m 1 -key codec_pt 0 -key codec_name PCMU \\"
            .to_string(),
        format!("       -key te_pt 101 -key ptime 20 {listen}"),
        format!("Metrics: http://{http}/metrics. Stop with Ctrl-C."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_phone_page_is_the_first_thing_the_demo_says() {
        let http = "127.0.0.1:8080".parse().unwrap();
        let lines = instructions("127.0.0.1:5060".parse().unwrap(), http);
        assert_eq!(
            lines[0],
            "Call from a browser: http://127.0.0.1:8080/phone (the test phone)"
        );
        assert_eq!(lines[1], "Console: http://127.0.0.1:8080/console/");
        let config = Config {
            phone: crate::config::PhoneConfig {
                show_demo_account: true,
            },
            ..Default::default()
        };
        let shown = shown_account(&config).expect("the demo shows its account");
        assert_eq!(shown.number, DEMO_NUMBER);
        assert!(shown_account(&Config::default()).is_none());
    }
}
