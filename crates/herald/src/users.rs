//! User lookup for `--uid=`, from `/etc/passwd` (NSS sources other than files are not
//! consulted).

use std::path::Path;

/// Resolves a user name or numeric UID as systemd's `get_user_creds()` + `parse_uid()`
/// do for systemd-notify: a known user gives its UID and primary GID; an unknown
/// numeric UID is accepted alone. Otherwise the errno to report.
pub fn resolve_user(user: &str) -> Result<(u32, Option<u32>), i32> {
    resolve_user_in(Path::new("/etc/passwd"), user)
}

fn resolve_user_in(passwd: &Path, user: &str) -> Result<(u32, Option<u32>), i32> {
    let numeric = parse_uid(user);
    let text = std::fs::read_to_string(passwd).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
            continue;
        };
        if f[0] == user || numeric == Some(uid) {
            return Ok((uid, Some(gid)));
        }
    }
    numeric
        .map(|uid| (uid, None))
        .ok_or(rustix::io::Errno::INVAL.raw_os_error())
}

/// `parse_uid()`: a decimal UID, excluding the invalid values 65535 and 4294967295.
fn parse_uid(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>()
        .ok()
        .filter(|&u| u != 0xFFFF && u != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nbroken\n",
        )
        .unwrap();
        assert_eq!(resolve_user_in(&p, "nobody"), Ok((65534, Some(65534))));
        assert_eq!(resolve_user_in(&p, "0"), Ok((0, Some(0))));
        assert_eq!(resolve_user_in(&p, "1234"), Ok((1234, None)));
        assert!(resolve_user_in(&p, "no-such-user").is_err());
        assert!(resolve_user_in(&p, "65535").is_err());
        assert!(resolve_user_in(&p, "-1").is_err());
    }
}
