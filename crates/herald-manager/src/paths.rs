//! Where the manager keeps its sockets: `/run/herald` for root, `$XDG_RUNTIME_DIR/herald`
//! for other users, or what `--runtime-dir` / `$HERALD_RUNTIME_DIR` say.

use std::path::PathBuf;

/// The environment variable that overrides the runtime directory.
pub const RUNTIME_DIR_ENV: &str = "HERALD_RUNTIME_DIR";

/// The runtime directory for this user, unless overridden.
pub fn default_runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(RUNTIME_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/run/herald");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("herald"),
        None => {
            std::env::temp_dir().join(format!("herald-{}", rustix::process::geteuid().as_raw()))
        }
    }
}

/// The notification socket in a runtime directory.
pub fn notify_socket(runtime_dir: &std::path::Path) -> PathBuf {
    runtime_dir.join("notify")
}

/// The control socket in a runtime directory.
pub fn control_socket(runtime_dir: &std::path::Path) -> PathBuf {
    runtime_dir.join("control")
}
