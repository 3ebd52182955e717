//! `passgate`: the binary. Reads the configuration, wires SIP, media, the
//! recognizer and the two-factor flow together, and runs until stopped.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod accounts;
mod admin_http;
mod audit_log;
mod audit_spool;
mod call;
mod call_audio;
mod config;
mod console;
mod demo;
mod fd_budget;
mod filler;
mod flow_clock;
mod health;
mod media_engine;
mod media_formats;
mod metrics;
mod panic_hook;
mod phone_page;
mod recognize;
mod recognizer_admission;
mod rtp_ports;
mod secure_trunk;
mod server;
mod services;
mod telemetry;
mod transfer;
mod tts;
mod turn_cost;
mod webrtc_call;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "passgate",
    version,
    about = "Two-factor voice authentication for SIP trunks and PBXs"
)]
struct Cli {
    /// Configuration file (TOML). PASSGATE_SECTION__KEY environment variables override it.
    #[arg(long, short, global = true, default_value = "config/passgate.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer calls.
    Run,
    /// Check a configuration file and print the settings in effect.
    CheckConfig,
    /// Manage the accounts callers authenticate against.
    Accounts {
        #[command(subcommand)]
        command: accounts::AccountsCommand,
    },
    /// Print the audit trail, oldest first.
    Audit {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Create or update the account store's tables.
    Migrate,
    /// Recognize a WAV file (any rate) as a call would, and print the alternatives.
    Recognize {
        /// Model directory (default: asr.model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Vocabulary file, one word per line (default: asr.vocabulary).
        #[arg(long)]
        vocabulary: Option<PathBuf>,
        /// Use the model's full vocabulary, ignoring asr.vocabulary.
        #[arg(long, conflicts_with = "vocabulary")]
        full: bool,
        /// Decide as a call would for an account with this passphrase
        /// (hashed with Argon2id, compared only as hashes), under
        /// [passphrase] and the passphrase step's listening window.
        #[arg(long)]
        passphrase: Option<String>,
        /// Packets lost on the way, in percent: each 20 ms packet is dropped
        /// with this probability before the receive path.
        #[arg(long, default_value_t = 0.0, value_parser = loss_percent)]
        loss: f64,
        /// Seed of the choice of lost packets (same seed, same packets).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Judge many recordings with the model loaded once: standard input
        /// names one a line as `LOSS SEED FILE`, and each report ends with
        /// a line `end.`.
        #[arg(long, conflicts_with_all = ["file", "loss", "seed"])]
        batch: bool,
        /// 16-bit WAV file.
        #[arg(required_unless_present = "batch")]
        file: Option<PathBuf>,
    },
    /// Run with no configuration file at all, on loopback, and print how to call it.
    Demo {
        /// SIP listen address (UDP and TCP).
        #[arg(long, default_value = "127.0.0.1:5060")]
        listen: std::net::SocketAddr,
        /// Admin HTTP and console address (kept on loopback: the demo has no token).
        #[arg(long, default_value = "127.0.0.1:8080", value_parser = loopback)]
        http: std::net::SocketAddr,
        /// SIP over WebSocket address, where the test phone page calls
        /// (kept on loopback: the demo has no token).
        #[arg(long, default_value = demo::DEMO_WS_LISTEN, value_parser = loopback)]
        ws: std::net::SocketAddr,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passgate: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CheckConfig => {
            let config = config::Config::load(&cli.config, true)?;
            println!("{} is valid. Settings in effect:\n", cli.config.display());
            print!(
                "{}",
                config::printed::settings(&config).context("printing the configuration")?
            );
            Ok(())
        }
        Command::Run => {
            let config = config::Config::load(&cli.config, false)?;
            serve(config, None)
        }
        Command::Accounts { command } => {
            let config = config::Config::load(&cli.config, false)?;
            block_on(accounts::run(&config, command))
        }
        Command::Audit { json, limit } => {
            let config = config::Config::load(&cli.config, false)?;
            block_on(accounts::audit(&config, json, limit))
        }
        Command::Migrate => {
            let config = config::Config::load(&cli.config, false)?;
            block_on(accounts::migrate(&config))
        }
        Command::Recognize {
            model,
            vocabulary,
            full,
            passphrase,
            loss,
            seed,
            batch,
            file,
        } => {
            let config = config::Config::load(&cli.config, false)?;
            let model = model.unwrap_or(config.asr.model.clone());
            let vocabulary = if full {
                None
            } else {
                vocabulary.or(config.asr.vocabulary.clone())
            };
            let input = match (&file, batch) {
                (Some(wav), false) => recognize::Input::File {
                    wav,
                    loss: call_audio::Loss {
                        percent: loss,
                        seed,
                    },
                },
                _ => recognize::Input::Batch,
            };
            recognize::run(&recognize::Request {
                model: &model,
                vocabulary: vocabulary.as_ref(),
                config: &config,
                passphrase: passphrase.as_deref(),
                input,
            })
        }
        Command::Demo { listen, http, ws } => {
            let mut config = config::Config::default();
            config.sip.listen = listen;
            config.http.listen = http;
            config.asr.vocabulary =
                Some(PathBuf::from("config/vocabulary-ko.txt")).filter(|p| p.is_file());
            config.sip.ws.listen = ws.to_string();
            config.phone.show_demo_account = true;
            demo::print_instructions(listen, http);
            block_on(demo::prepare(&config))?;
            let console = demo::console(&config);
            serve(config, Some(console))
        }
    }
}

fn loopback(text: &str) -> Result<std::net::SocketAddr, String> {
    match text.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => Ok(a),
        Ok(a) => Err(format!("{a} is not on loopback")),
        Err(e) => Err(e.to_string()),
    }
}

fn loss_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{text} is not a percentage from 0 to 100")),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(f)
}

fn serve(config: config::Config, demo: Option<console::Demo>) -> anyhow::Result<()> {
    telemetry::init(&config.log.level);
    raise_open_file_limit();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.runtime.worker_threads > 0 {
        builder.worker_threads(config.runtime.worker_threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // On a worker like every other task: run from `block_on` the main loop
    // would sit on its own thread, and every call event would cross threads.
    runtime.block_on(async {
        tokio::spawn(server::run(config, demo))
            .await
            .context("the main loop stopped")?
    })
}

/// Every call holds an RTP socket: a thousand calls need more descriptors
/// than the usual soft limit of 1,024, so take all the hard limit allows
/// rather than depend on the shell that started us.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur >= limit.rlim_max
    {
        return;
    }
    let soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        tracing::info!(
            from = soft,
            to = limit.rlim_cur,
            "raised the open-file limit"
        );
    } else {
        tracing::warn!(
            soft,
            error = %std::io::Error::last_os_error(),
            "could not raise the open-file limit; calls beyond it will be refused"
        );
    }
}
