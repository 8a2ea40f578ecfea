//! Builds the static rslim-sensor and leaves it at `$OUT_DIR/rslim-sensor`,
//! where `src/sensor/embedded.rs` includes it, so one `cargo build` yields a
//! self-contained `rslim` that can upload the sensor to any Docker daemon.
//!
//! The sensor is built by a nested cargo in its own target directory (sharing
//! the outer target directory would deadlock on its lock). `--target` is always
//! named so `+crt-static` reaches only target code, never build scripts or proc
//! macros; on x86_64-unknown-linux-gnu the result is a static-pie.
//! `RSLIM_SENSOR_BIN=/path/to/rslim-sensor` skips the nested build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=sensor/src");
    println!("cargo:rerun-if-changed=sensor/Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RSLIM_SENSOR_BIN");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let destination = out_dir.join("rslim-sensor");
    let built = match env::var_os("RSLIM_SENSOR_BIN") {
        Some(prebuilt) => PathBuf::from(prebuilt),
        None => build_sensor(&out_dir),
    };
    std::fs::copy(&built, &destination).unwrap_or_else(|e| {
        panic!(
            "cannot copy the sensor from {} to {}: {e}",
            built.display(),
            destination.display()
        )
    });
}

fn build_sensor(out_dir: &Path) -> PathBuf {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out_dir.join("sensor-target");

    let mut command = Command::new(cargo);
    command
        .current_dir(&manifest_dir)
        .args([
            "build",
            "--release",
            "-p",
            "rslim-sensor",
            "--features",
            "bin",
        ])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .args(["--target", &target])
        .arg("--target-dir")
        .arg(&target_dir)
        // Only for this nested build: a smaller binary to upload into every container.
        .args(["--config", "profile.release.strip=true"])
        // CARGO_ENCODED_RUSTFLAGS wins over RUSTFLAGS, and cargo sets it for build
        // scripts from the outer flags (which may hold coverage or lint flags).
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .env_remove("RUSTFLAGS")
        // Wrappers (clippy, sccache) and target-dir overrides of the outer build must not leak in.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the sensor: {e}"));
    assert!(
        status.success(),
        "building the static rslim-sensor failed ({status}); see the cargo output above, \
         or set RSLIM_SENSOR_BIN to a prebuilt static sensor"
    );
    target_dir
        .join(&target)
        .join("release")
        .join("rslim-sensor")
}
