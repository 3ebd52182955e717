//! A throw-away PostgreSQL cluster a test can stop and start again (an
//! outage), from Debian's binaries as `crates/auth/tests/support/postgres.rs`
//! starts one: `initdb` into a temp dir (as the `postgres` user when running
//! as root), `pg_ctl` on a free port. Stopped and removed when dropped; a
//! watchdog does it if the test process dies first.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// A running cluster with a `passgate` database, or `None` (said loudly)
    /// without the binaries.
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            eprintln!("*** SKIPPED: no PostgreSQL under /usr/lib/postgresql/*/bin ***");
            return None;
        };
        let as_postgres = is_root();
        let dir = tempfile::tempdir().expect("tempdir");
        if as_postgres {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success());
        }
        let cluster = PgCluster {
            bin,
            port: super::free_port(),
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
        let out = cluster
            .tool("createdb")
            .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string()])
            .args(["-U", "postgres", "passgate"])
            .output()
            .expect("createdb");
        assert!(out.status.success(), "createdb failed");
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/passgate", self.port)
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
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stdout)
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

    fn spawn_watchdog(&self) {
        let stop = self.tool("pg_ctl");
        let program = stop.get_program().to_string_lossy().into_owned();
        let args: Vec<String> = stop
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {program} {args} -D '{data}' -m immediate stop >/dev/null 2>&1",
            pid = std::process::id(),
            args = args.join(" "),
            data = self.data().display(),
        );
        let ok = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("setsid");
        assert!(ok.success());
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

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
