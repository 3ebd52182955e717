//! Throw-away PostgreSQL servers for tests, from Debian's binaries: `initdb`
//! into a temp dir (as the `postgres` user when running as root, since
//! initdb refuses root), `pg_ctl` on a free loopback port, trust auth.
//!
//! - [`fresh_database`]: an empty database on a server shared by the whole
//!   test binary, started on first use.
//! - [`PgCluster::start`]: a server of the test's own, which it can stop and
//!   start again (an outage); stopped and removed when dropped.
//!
//! A watchdog process stops every server and removes its files once the
//! test binary is gone, however the tests end. Without the binaries the
//! tests say so loudly and skip (`None`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
}

static SHARED: OnceLock<Option<PgCluster>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database's URL on the binary's shared server, or `None`
/// (said loudly) without PostgreSQL.
pub fn fresh_database(test: &str) -> Option<String> {
    let Some(server) = SHARED.get_or_init(PgCluster::start_quiet).as_ref() else {
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
    server.create_database(&name);
    Some(server.url_of(&name))
}

impl PgCluster {
    /// A running server with a `passgate` database, or `None` (said loudly)
    /// without the binaries.
    pub fn start() -> Option<PgCluster> {
        let Some(cluster) = PgCluster::start_quiet() else {
            loud(
                "SKIPPED: no PostgreSQL binaries under /usr/lib/postgresql/*/bin \
                 (apt-get install -y postgresql)",
            );
            return None;
        };
        cluster.create_database("passgate");
        Some(cluster)
    }

    fn start_quiet() -> Option<PgCluster> {
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("passgate-pg-")
            .tempdir()
            .expect("tempdir");
        if as_postgres {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown of {} failed", dir.path().display());
        }
        let cluster = PgCluster {
            bin,
            port: free_port(),
            dir,
            as_postgres,
        };
        let out = cluster
            .tool("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.spawn_watchdog();
        cluster.up();
        Some(cluster)
    }

    /// The `passgate` database's URL.
    pub fn url(&self) -> String {
        self.url_of("passgate")
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn create_database(&self, name: &str) {
        let out = self
            .tool("createdb")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", name])
            .output()
            .expect("createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server (again), waiting until it takes connections.
    pub fn up(&self) {
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.dir.path().display(),
            self.port
        );
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-o", &options, "start"])
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server at once, dropping its connections (an outage).
    pub fn down(&self) {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "immediate", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop failed");
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    /// Stops the server and removes its files once this process is gone.
    fn spawn_watchdog(&self) {
        let stop = self.tool("pg_ctl");
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
            data = self.data().display(),
            dir = self.dir.path().display(),
        );
        // `-f`: setsid forks the watchdog into its own session and returns at
        // once, so it survives the test binary's process group being killed.
        let ok = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("setsid");
        assert!(ok.success(), "could not start the PostgreSQL watchdog");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Written to the process's stderr directly: `eprintln!` inside a test is
/// captured and hidden when the test passes.
fn loud(message: &str) {
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
}

/// `PASSGATE_TEST_PG_ROOT` replaces `/usr/lib/postgresql` (pointing it at
/// an empty directory shows the skip path).
fn bin_dir() -> Option<PathBuf> {
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

/// A TCP port free on loopback right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
