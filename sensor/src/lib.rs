// placeholder until the sensor branch lands
use serde::{Deserialize, Serialize};
pub const SENSOR_DIR: &str = "/.rslim";
pub const SENSOR_PATH: &str = "/.rslim/sensor";
pub const CONFIG_PATH: &str = "/.rslim/config.json";
pub const FINDINGS_PATH: &str = "/.rslim/findings.json";
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SensorConfig { pub argv: Vec<String>, pub user: Option<String>, pub workdir: Option<String>, pub mount_marks: Vec<String>, pub stop_grace_secs: u64 }
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Findings { pub files: Vec<WirePath>, pub dirs: Vec<WirePath>, pub executed: Vec<WirePath>, pub pids: Vec<i32>, pub events: u64, pub overflows: u64, pub mark: String, pub stop_requested: bool, pub app: AppOutcome, pub errors: Vec<String> }
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AppOutcome { Exited { code: i32 }, Signaled { signal: i32 }, NotStarted { error: String } }
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum WirePath { Text(String), Bytes(Vec<u8>) }
impl WirePath { pub fn to_path_buf(&self) -> std::path::PathBuf { match self { WirePath::Text(s) => s.into(), WirePath::Bytes(b) => std::path::PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b)) } } }
