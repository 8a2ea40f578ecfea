//! The profiled app cannot decide what rslim keeps: findings it writes
//! itself are not sealed with the run's key and are ignored, and a huge
//! findings file is refused without rslim's memory growing with it
//! (docs/sensor.md, "Threat model").

mod common;

use common::*;

/// The largest resident set of any child this process has waited for.
fn children_peak_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss()
}

#[test]
fn findings_written_by_the_app_are_ignored_and_cost_no_memory() {
    let _daemon = exclusive();
    let (fat, slim) = ("rslim-fixtures/forger:latest", "rslim-test/forger:slim");
    let (code, stderr, report) = run_build(fat, slim, &[]);
    assert_eq!(code, Some(0), "rslim build {fat} failed:\n{stderr}");
    let report = report.expect("no report");
    let kept: Vec<&str> = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["path"].as_str().unwrap())
        .collect();
    assert!(
        !kept.contains(&"/etc/forged-by-the-app"),
        "the forged findings were taken"
    );
    // What the app really ran is there: the sensor's own findings won.
    assert!(kept.contains(&"/usr/local/bin/forge.sh"), "{kept:?}");
    assert!(kept.contains(&"/usr/bin/truncate"), "{kept:?}");
    let peak = children_peak_rss_kib();
    assert!(
        peak < 64 * 1024,
        "a child (rslim, presumably) peaked at {peak} KiB with a 3 GiB findings file around"
    );
    remove_image(slim);
}
