//! `make bench`: Passgate measured against reference peers in one run, on
//! this machine, written to bench/results/ as a Markdown report and a chart.
//!
//! P1 signalling (SIPp callers against Passgate, SIPp's UAS and a bare
//! rsipstack UAS, interleaved), P2 media (a Rust RTP load generator), P3 the
//! recognizer, P4 overload at twice Passgate's clean rate, P5 the seed's
//! flow with many callers authenticating at once, calls per second through
//! Kamailio's dispatcher to one and two nodes beside SIPp's UAS (its own
//! scale_out.md too), and the passphrase decision's accuracy in lossy calls
//! (its own accuracy.md too).

use std::path::PathBuf;

use clap::Parser;

mod accuracy;
mod agent;
mod baseline;
mod chart;
mod kamailio;
mod p1_signalling;
mod p2_media;
mod p3_recognizer;
mod p4_overload;
mod p5_flow;
mod proc_stats;
mod report;
mod scale_out;
mod sipp;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Passgate benchmarks, side by side with reference peers")]
pub struct Options {
    /// Where the report (report.md) and chart (charts.png) go.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Shorter steps: a smoke run of every phase in a couple of minutes.
    #[arg(long)]
    pub quick: bool,
    /// Phases to run (p1 p2 p3 p4 p5 scaleout accuracy, and baseline, which
    /// only runs when named); all when none is given. `scaleout` and `accuracy` write scale_out.md and accuracy.md;
    /// run alone, only those.
    pub phases: Vec<String>,
    /// P4's offered load is twice this rate; default: P1's clean rate.
    #[arg(long)]
    pub clean_rate: Option<u32>,
}

/// The phases `phases` may name.
const PHASES: [&str; 8] = [
    "p1", "p2", "p3", "p4", "p5", "scaleout", "accuracy", "baseline",
];

fn main() -> anyhow::Result<()> {
    let opts = Options::parse();
    if let Some(unknown) = opts.phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
        anyhow::bail!("no phase {unknown:?}: the phases are {}", PHASES.join(", "));
    }
    let wants = |p: &str| opts.phases.is_empty() || opts.phases.iter().any(|x| x == p);
    std::fs::create_dir_all(&opts.out)?;
    let started = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let machine = report::machine();
    eprintln!("machine: {machine}");
    let mut sections = Vec::new();
    let mut clean_rate = opts.clean_rate;
    if wants("p1") {
        let (section, rate) = p1_signalling::run(&opts)?;
        clean_rate = clean_rate.or(Some(rate));
        sections.push(section);
    }
    if wants("p2") {
        sections.push(p2_media::run(&opts)?);
    }
    if wants("p3") {
        sections.push(p3_recognizer::run(&opts)?);
    }
    if wants("p4") {
        let rate = clean_rate.ok_or_else(|| {
            anyhow::anyhow!("P4 offers twice the clean rate: run P1 with it or pass --clean-rate")
        })?;
        sections.push(p4_overload::run(&opts, rate)?);
    }
    if opts.phases.iter().any(|p| p == "baseline") {
        let section = baseline::run(&opts)?;
        std::fs::write(
            opts.out.join("baseline.md"),
            format!(
                "# {}\n\nRun by `make bench-baseline` on {started}.\n\nMachine: {machine}.\n\n{}",
                section.title, section.markdown
            ),
        )?;
        eprintln!("baseline: {}", opts.out.join("baseline.md").display());
        if opts.phases.iter().all(|p| p == "baseline") {
            return Ok(());
        }
    }
    if wants("p5") {
        sections.push(p5_flow::run(&opts)?);
    }
    if wants("scaleout") {
        let section = scale_out::run(&opts)?;
        std::fs::write(
            opts.out.join("scale_out.md"),
            format!(
                "# {}\n\nRun by `make bench` or `make bench-scale-out` on {started}.\n\nMachine: {machine}.\n\n{}",
                section.title, section.markdown
            ),
        )?;
        eprintln!("scale-out: {}", opts.out.join("scale_out.md").display());
        let alone = opts.phases.iter().all(|p| p == "scaleout");
        if alone && !opts.phases.is_empty() {
            return Ok(());
        }
        sections.push(section);
    }
    if wants("accuracy") {
        let section = accuracy::run(&opts)?;
        // Run alone, it leaves the full report as it was.
        if sections.is_empty() {
            return Ok(());
        }
        sections.push(section);
    }
    // Nothing measured leaves the last report as it was.
    if sections.is_empty() {
        return Ok(());
    }
    let charts: Vec<_> = sections
        .iter_mut()
        .flat_map(|s| s.charts.drain(..))
        .collect();
    let chart_file = if charts.is_empty() {
        None
    } else {
        chart::render(&opts.out.join("charts.png"), &charts)?;
        Some("charts.png")
    };
    report::write(&opts.out, &started, &machine, &sections, chart_file)?;
    eprintln!("report: {}", opts.out.join("report.md").display());
    Ok(())
}
