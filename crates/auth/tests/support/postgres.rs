#![allow(dead_code)] // each test binary uses part of this helper

//! A real PostgreSQL for the store tests, started once per test binary
//! from Debian's binaries: `initdb` into a temp dir (as the `postgres`
//! user when running as root, since initdb refuses root), `pg_ctl start`
//! on a free port, one database per test. A watchdog process stops the
//! server and removes the directory when the test binary exits.
//!
//! Without the binaries the tests say so loudly and skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct PgServer {
    bin: PathBuf,
    port: u16,
    run_as_postgres: bool,
}

static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database's URL, or `None` (after saying so on the
/// terminal, past the test harness's output capture) without PostgreSQL.
pub fn fresh_database(test: &str) -> Option<String> {
    let Some(server) = SERVER.get_or_init(start).as_ref() else {
        loud(&format!(
            "SKIPPED postgres::{test}: no PostgreSQL binaries under /usr/lib/postgresql/*/bin \
             (apt-get install -y postgresql)"
        ));
        return None;
    };
    let name = format!(
        "t{}_{}",
        NEXT_DB.fetch_add(1, Ordering::Relaxed),
        test.to_lowercase()
    );
    let status = server
        .command("createdb")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "postgres",
            &name,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "createdb {name} failed");
    Some(format!(
        "postgres://postgres@127.0.0.1:{}/{name}",
        server.port
    ))
}

/// Written to the process's stderr directly: `eprintln!` inside a test is
/// captured and hidden when the test passes.
fn loud(message: &str) {
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
}

fn start() -> Option<PgServer> {
    let bin = find_bin_dir()?;
    let run_as_postgres = is_root();
    let dir = std::env::temp_dir().join(format!(
        "passgate-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    if run_as_postgres {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown of {} failed", dir.display());
    }
    let port = free_port();
    let server = PgServer {
        bin,
        port,
        run_as_postgres,
    };
    let data = dir.join("data");
    let out = server
        .command("initdb")
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let options = format!(
        "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off",
        dir.display()
    );
    let out = server
        .command("pg_ctl")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-o", &options, "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
    );
    spawn_watchdog(&server, &dir, &data);
    Some(server)
}

impl PgServer {
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }
}

/// Stops the server (and deletes its files) once this process is gone,
/// however the tests end.
fn spawn_watchdog(server: &PgServer, dir: &Path, data: &Path) {
    let stop = server.command("pg_ctl");
    let program = stop.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = stop
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {program} {args} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        args = args.join(" "),
        data = data.display(),
        dir = dir.display(),
    );
    // `-f`: setsid forks the watchdog into its own session and returns at
    // once, so it survives the test binary's process group being killed.
    let status = Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "could not start the PostgreSQL watchdog");
}

/// `PASSGATE_TEST_PG_ROOT` replaces `/usr/lib/postgresql` (pointing it at
/// an empty directory shows the skip path).
fn find_bin_dir() -> Option<PathBuf> {
    let root = std::env::var_os("PASSGATE_TEST_PG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql"));
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
