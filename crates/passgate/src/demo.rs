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

/// What the demo's console shows: the account, its passphrase, the texts.
pub fn console(config: &Config) -> crate::console::Demo {
    crate::console::Demo {
        name: DEMO_NAME,
        number: DEMO_NUMBER,
        passphrase: demo_passphrase(config),
        sms: Default::default(),
    }
}

/// The console's address comes first: it is where the demo is watched.
pub fn print_instructions(listen: SocketAddr, http: SocketAddr) {
    let lines = [
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
    ];
    println!("{}\n", lines.join("\n"));
}
