//! `switchboard serve` as a child process, for tests that need the real
//! binary (signals, `kill -9`, resident memory, command-line flags): bound to
//! 127.0.0.1:0, its stdout lines and stderr kept, killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A running `switchboard serve`.
pub(crate) struct Served {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT`, from its `listening on` line.
    pub(crate) base: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `switchboard serve --listen 127.0.0.1:0 --data DATA ARGS…` with
    /// `env` (and none of the test runner's public URL, signup or demo
    /// settings), and waits for its `listening on` line.
    pub(crate) fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("SWITCHBOARD_PUBLIC_URL")
            .env_remove("SWITCHBOARD_SIGNUP")
            .env_remove("SWITCHBOARD_DEMO")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().expect("stdout");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let errs = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                errs.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_owned();
                    }
                }
                Err(_) => panic!(
                    "no `listening on` line; stderr:\n{}",
                    stderr.lock().unwrap()
                ),
            }
        };
        Self {
            child,
            base,
            stdout,
            stderr,
        }
    }

    /// Its process id, as `kill` takes it.
    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// What it printed on stdout so far, one line each.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// What it printed on stdout so far.
    pub(crate) fn output(&self) -> String {
        self.lines().join("\n")
    }

    /// What it logged on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM (a graceful stop).
    pub(crate) fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub(crate) fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGTERM) and waits, so the data directory is free again.
    pub(crate) fn stop(mut self) {
        self.sigterm();
        let status = self.wait(Duration::from_secs(30));
        assert!(
            status.success(),
            "exit {status:?}; stderr:\n{}",
            self.stderr()
        );
    }

    /// A field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
    pub(crate) fn kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
