//! `passgate accounts …`, `passgate audit`, `passgate migrate`: managing the
//! account store that calls authenticate against. They read the same
//! configuration as `run` (`database.url`), so environment overrides work.

use anyhow::Context;
use auth::flow::{AccountId, Balance};
use auth::passphrase::{HashCost, PassphraseHasher};
use auth::phone::{NumberingPlan, E164};
use auth::store::{NewAccount, NewAuditRow, Store, Timestamp};
use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Add an account. The first --phone is the number one-time codes are sent to.
    Add {
        #[arg(long)]
        name: String,
        /// E.164 (+15550100001) or a national number of the default country.
        #[arg(long = "phone", required = true)]
        phones: Vec<String>,
        /// Stored only as an Argon2id hash of the normalised phrase.
        #[arg(long)]
        passphrase: String,
        #[arg(long, default_value = "0")]
        balance: String,
        /// Account id (generated when absent).
        #[arg(long)]
        id: Option<String>,
    },
    /// List accounts (never their passphrases).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace an account's passphrase.
    SetPassphrase {
        id: String,
        #[arg(long)]
        passphrase: String,
    },
    /// Remove an account (its audit rows stay).
    Remove { id: String },
}

pub async fn open(config: &Config) -> anyhow::Result<Store> {
    let url = &config.database.url;
    let store = Store::connect(url).await.with_context(|| {
        format!(
            "opening the account store at {}",
            auth::store::redact_url(url)
        )
    })?;
    store
        .migrate()
        .await
        .context("migrating the account store")?;
    Ok(store)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open(config).await?;
    println!(
        "account store at {} is up to date",
        auth::store::redact_url(&config.database.url)
    );
    Ok(())
}

pub async fn run(config: &Config, command: AccountsCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    let plan = &config.flow.numbering;
    match command {
        AccountsCommand::Add {
            name,
            phones,
            passphrase,
            balance,
            id,
        } => {
            let new = NewAccountInput {
                name: &name,
                phones: &phones,
                passphrase: &passphrase,
                balance: &balance,
                id,
            };
            let account = add(&store, plan, new, "cli").await?;
            println!("added account {} ({})", account, name.trim());
        }
        AccountsCommand::List { json } => {
            for a in store.list_accounts().await? {
                if json {
                    println!("{}", serde_json::to_string(&a)?);
                } else {
                    let phones: Vec<&str> = a.phones.iter().map(E164::as_str).collect();
                    println!("{}\t{}\t{}\t{}", a.id, a.name, phones.join(","), a.balance);
                }
            }
        }
        AccountsCommand::SetPassphrase { id, passphrase } => {
            let id = AccountId(id);
            set_passphrase(&store, &id, &passphrase, "cli").await?;
            println!("passphrase of {id} replaced");
        }
        AccountsCommand::Remove { id } => {
            let id = AccountId(id);
            remove(&store, &id, "cli").await?;
            println!("removed account {id}");
        }
    }
    store.close().await;
    Ok(())
}

/// An account to add, as an operator gives it: numbers as typed, the
/// passphrase in clear (hashed here, never kept), the balance as text.
pub struct NewAccountInput<'a> {
    pub name: &'a str,
    pub phones: &'a [String],
    pub passphrase: &'a str,
    pub balance: &'a str,
    pub id: Option<String>,
}

/// Adds an account and records who did (`by`: `cli`, `console`, `demo`).
/// The command line, the console and the demo all add accounts here, so
/// the same rules hold for each.
pub async fn add(
    store: &Store,
    plan: &NumberingPlan,
    new: NewAccountInput<'_>,
    by: &'static str,
) -> anyhow::Result<AccountId> {
    let NewAccountInput {
        name,
        phones,
        passphrase,
        balance,
        id,
    } = new;
    let phones = phones
        .iter()
        .map(|p| {
            plan.normalise(p)
                .with_context(|| format!("--phone {p:?} is not a phone number"))
        })
        .collect::<anyhow::Result<Vec<E164>>>()?;
    let balance: Balance = balance
        .parse()
        .with_context(|| format!("--balance {balance:?}"))?;
    let hashed = hasher()?.hash(passphrase).context("passphrase")?;
    let account = store
        .add_account(
            NewAccount {
                id: id.map(AccountId),
                name: name.to_string(),
                phones,
                passphrase: hashed,
                balance,
            },
            Timestamp::now(),
        )
        .await?;
    record(store, "account_added", &account.id, by).await;
    Ok(account.id)
}

/// Replaces an account's passphrase (hashed here) and records who did.
pub async fn set_passphrase(
    store: &Store,
    id: &AccountId,
    passphrase: &str,
    by: &'static str,
) -> anyhow::Result<()> {
    let hashed = hasher()?.hash(passphrase).context("passphrase")?;
    store.set_passphrase(id, &hashed, Timestamp::now()).await?;
    record(store, "account_passphrase_set", id, by).await;
    Ok(())
}

/// Removes an account (its audit rows stay) and records who did.
pub async fn remove(store: &Store, id: &AccountId, by: &'static str) -> anyhow::Result<()> {
    store.remove_account(id).await?;
    record(store, "account_removed", id, by).await;
    Ok(())
}

pub async fn audit(config: &Config, json: bool, limit: u32) -> anyhow::Result<()> {
    let store = open(config).await?;
    for row in store.audit(limit).await? {
        if json {
            println!("{}", serde_json::to_string(&row)?);
        } else {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                row.at,
                row.call_id,
                row.event,
                row.outcome.as_deref().unwrap_or("-"),
                row.account.as_ref().map_or("-", |a| a.0.as_str())
            );
        }
    }
    store.close().await;
    Ok(())
}

fn hasher() -> anyhow::Result<PassphraseHasher> {
    Ok(PassphraseHasher::new(HashCost::default())?)
}

/// Administrative changes go to the audit trail too (never the passphrase).
async fn record(store: &Store, event: &str, account: &AccountId, by: &'static str) {
    let row = NewAuditRow {
        call_id: "-".into(),
        event: event.into(),
        outcome: None,
        account: Some(account.clone()),
        detail: serde_json::json!({ "by": by }),
    };
    if let Err(e) = store.append_audit_row(&row, Timestamp::now()).await {
        tracing::warn!(error = %e, "could not write the audit row");
    }
}
