//! The Python client (`python/tqueue.py`) and worker script against a running server.

mod support;

use support::*;

#[test]
fn the_python_client_and_worker_round_trip() {
    let dir = scratch_dir();
    let server = Process::start(&dir, &[]).unwrap();
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/python/test_tqueue.py");
    let out = std::process::Command::new("python3")
        .arg(tests)
        .env("TQUEUE_URL", format!("http://{}", server.addr))
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stderr);
    println!("{report}");
    assert!(out.status.success(), "{report}\n{}", server.log());
    assert!(report.contains("Ran 8 tests") && report.trim_end().ends_with("OK"), "{report}");
}
