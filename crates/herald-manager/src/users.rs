//! User and group lookup from `/etc/passwd` and `/etc/group`, for `User=`/`Group=` and
//! for `herald notify --uid=`. NSS sources other than these files are not consulted.

use std::path::Path;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// UID.
    pub uid: u32,
    /// Primary GID.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // 65535 and 4294967295 are invalid IDs (systemd's `uid_is_valid`).
    s.parse::<u32>()
        .ok()
        .filter(|&u| u != 0xFFFF && u != u32::MAX)
}

/// Finds a user by name or by numeric UID in a passwd file's text.
pub fn find_user_in(passwd: &str, user: &str) -> Option<Account> {
    let numeric = parse_id(user);
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let (uid, gid) = (f[2].parse::<u32>().ok()?, f[3].parse::<u32>().ok()?);
        (f[0] == user || numeric == Some(uid)).then(|| Account {
            name: f[0].to_owned(),
            uid,
            gid,
            home: f[5].to_owned(),
            shell: f[6].to_owned(),
        })
    })
}

/// Finds a group's GID by name or number in a group file's text.
pub fn find_group_in(group: &str, name: &str) -> Option<u32> {
    let numeric = parse_id(name);
    group.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let gid = f.get(2)?.parse::<u32>().ok()?;
        (f[0] == name || numeric == Some(gid)).then_some(gid)
    })
}

/// The supplementary groups of `user` (groups listing it as a member), plus `primary`.
pub fn groups_of_in(group: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut out = vec![primary];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        if f[3].split(',').any(|m| m == user) {
            if let Ok(gid) = f[2].parse::<u32>() {
                if !out.contains(&gid) {
                    out.push(gid);
                }
            }
        }
    }
    out
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(path)).unwrap_or_default()
}

/// Looks up a user in `/etc/passwd`.
pub fn find_user(user: &str) -> Option<Account> {
    find_user_in(&read("/etc/passwd"), user)
}

/// Looks up a group in `/etc/group`.
pub fn find_group(name: &str) -> Option<u32> {
    find_group_in(&read("/etc/group"), name)
}

/// The groups of `user` per `/etc/group`, its primary group first.
pub fn groups_of(user: &str, primary: u32) -> Vec<u32> {
    groups_of_in(&read("/etc/group"), user, primary)
}

/// Resolves `--uid=` as systemd-notify does (`get_user_creds()` then `parse_uid()`):
/// a known user gives its UID and primary GID; an unknown numeric UID is accepted
/// alone. Otherwise `None`.
pub fn resolve_notify_user(user: &str) -> Option<(u32, Option<u32>)> {
    match find_user(user) {
        Some(a) => Some((a.uid, Some(a.gid))),
        None => parse_id(user).map(|uid| (uid, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbroken\napp:x:1001:1001::/srv/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nadm:x:4:app,syslog\napp:x:1001:\n";

    #[test]
    fn users_and_groups() {
        assert_eq!(
            find_user_in(PASSWD, "nobody").map(|a| (a.uid, a.gid)),
            Some((65534, 65534))
        );
        assert_eq!(
            find_user_in(PASSWD, "1001").map(|a| a.home),
            Some("/srv/app".to_owned())
        );
        assert_eq!(find_user_in(PASSWD, "missing"), None);
        assert_eq!(find_user_in(PASSWD, "65535"), None);
        assert_eq!(find_group_in(GROUP, "adm"), Some(4));
        assert_eq!(find_group_in(GROUP, "65534"), Some(65534));
        assert_eq!(find_group_in(GROUP, "nope"), None);
        assert_eq!(groups_of_in(GROUP, "app", 1001), vec![1001, 4]);
    }
}
