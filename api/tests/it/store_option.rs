//! `--store` and `migrate` as a user runs them: clear errors, never a hang.
//! (Against a live ScyllaDB: `engine/store/tests/conformance.rs`, docs/scylla.md.)

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn run(args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("temp dir");
    Command::new(BIN)
        .args(args)
        .env("SWITCHBOARD_DATA", data.path())
        .env("RUST_LOG", "warn")
        .env_remove("SWITCHBOARD_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("run switchboard")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unknown_store_is_refused_clearly() {
    for args in [
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://db/x",
        ][..],
        &["migrate", "--store", "redis://x"],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            stderr(&out).contains("use `embedded` or scylla://host:9042/keyspace"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn the_embedded_store_needs_no_migration() {
    let out = run(&["migrate", "--store", "embedded"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "the embedded store needs no migrations\n"
    );
}

#[cfg(not(feature = "scylla"))]
#[test]
fn a_scylla_store_needs_the_feature() {
    for args in [
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "scylla://127.0.0.1:9042/sb",
        ][..],
        &["migrate", "--store", "scylla://127.0.0.1:9042/sb"],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            stderr(&out).contains("built without ScyllaDB support"),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("--features scylla"),
            "{}",
            stderr(&out)
        );
    }
}

#[cfg(feature = "scylla")]
#[test]
fn an_unreachable_cluster_fails_at_start_with_its_address() {
    for args in [
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "scylla://127.0.0.1:1/sb?timeout_ms=500",
        ][..],
        &[
            "migrate",
            "--store",
            "scylla://127.0.0.1:1/sb?timeout_ms=500",
        ],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            stderr(&out).contains("cannot connect to ScyllaDB at 127.0.0.1:1"),
            "{}",
            stderr(&out)
        );
    }
    let out = run(&["migrate", "--store", "scylla://127.0.0.1:1/bad-keyspace"]);
    assert!(
        stderr(&out).contains("invalid store URI"),
        "{}",
        stderr(&out)
    );
}
