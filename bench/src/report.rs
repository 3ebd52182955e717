//! The Markdown report: one section per benchmark, the machine it ran on,
//! and the chart beside it.

use std::fmt::Write as _;
use std::path::Path;

use crate::chart::Chart;

pub struct Section {
    pub title: String,
    pub markdown: String,
    pub charts: Vec<Chart>,
}

/// Where the numbers came from: they mean little without it.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {memory_gib:.0} GiB, Linux {}; load average at the start: {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

pub fn write(
    out: &Path,
    started: &str,
    machine: &str,
    sections: &[Section],
    chart_file: Option<&str>,
) -> anyhow::Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# Passgate benchmarks\n");
    let _ = writeln!(md, "Run by `make bench` on {started}.\n");
    let _ = writeln!(md, "Machine: {machine}.\n");
    let _ = writeln!(
        md,
        "Every peer runs on the same machine as its load generator, and the references are measured in the same run, interleaved with Passgate, so the ratios hold even where the machine is shared and absolute numbers wander.\n"
    );
    if let Some(chart) = chart_file {
        let _ = writeln!(md, "![charts]({chart})\n");
    }
    for s in sections {
        let _ = writeln!(md, "## {}\n\n{}\n", s.title, s.markdown.trim_end());
    }
    std::fs::write(out.join("report.md"), md)?;
    Ok(())
}

/// A Markdown table from a header and rows.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "| {} |", header.join(" | "));
    let _ = writeln!(t, "|{}", header.iter().map(|_| "---|").collect::<String>());
    for r in rows {
        let _ = writeln!(t, "| {} |", r.join(" | "));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_row_per_entry() {
        let t = table(
            &["a", "b"],
            &[vec!["1".into(), "2".into()], vec!["3".into(), "4".into()]],
        );
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n");
    }

    #[test]
    fn machine_names_cores() {
        assert!(machine().contains("cores"));
    }
}
