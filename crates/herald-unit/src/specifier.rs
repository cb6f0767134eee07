//! `%` specifiers (systemd.unit(5), "SPECIFIERS").
//!
//! Supported: `%n` `%N` `%p` `%P` `%i` `%I` `%j` `%J` `%f` (derived from
//! the unit name), `%y` `%Y` (the unit file and its directory), `%t` `%h`
//! `%u` `%U` `%H` (taken from a
//! [`SpecifierContext`]) and `%%`. Any other specifier is an error, as in
//! current systemd. A lone `%` at the very end of a string is kept.

use crate::name::{self, UnitName};

/// The facts about the running manager that specifiers refer to. The
/// crate performs no lookups of its own; the manager fills this in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecifierContext {
    /// `%t`: the runtime directory, `/run` for the system manager or
    /// `$XDG_RUNTIME_DIR` for a user manager. Relative `PIDFile=` paths
    /// are also resolved against it.
    pub runtime_dir: String,
    /// `%h`: the home directory of the user running the manager.
    pub home: String,
    /// `%u`: the name of the user running the manager.
    pub user: String,
    /// `%U`: the numeric UID of the user running the manager.
    pub uid: u32,
    /// `%H`: the host name.
    pub hostname: String,
    /// `%y`: the path of the unit file (its directory is `%Y`). Set by
    /// [`crate::load_unit`] for the unit it loads; `None` elsewhere.
    pub fragment: Option<String>,
}

impl SpecifierContext {
    /// The context of a system manager running as root: `/run`, `/root`,
    /// `root`, `0` and the given host name.
    pub fn system(hostname: impl Into<String>) -> Self {
        SpecifierContext {
            runtime_dir: "/run".to_owned(),
            home: "/root".to_owned(),
            user: "root".to_owned(),
            uid: 0,
            hostname: hostname.into(),
            fragment: None,
        }
    }
}

/// Why a specifier could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecifierError {
    /// `%x` with an `x` this crate does not know.
    #[error("unknown specifier '%{0}'")]
    Unknown(char),
    /// A known specifier whose value cannot be computed (e.g. `%I` of an
    /// instance with a malformed escape).
    #[error("cannot resolve '%{specifier}': {reason}")]
    Failed {
        /// The specifier character.
        specifier: char,
        /// Why it failed.
        reason: String,
    },
}

/// Replaces the specifiers in `text` for the unit `unit`.
///
/// ```
/// use herald_unit::{resolve_specifiers, SpecifierContext, UnitName};
/// let unit = UnitName::parse("getty@tty1.service").unwrap();
/// let ctx = SpecifierContext::system("box");
/// assert_eq!(
///     resolve_specifiers("%p on %i at %H (%n) 100%%", &unit, &ctx).unwrap(),
///     "getty on tty1 at box (getty@tty1.service) 100%"
/// );
/// assert!(resolve_specifiers("%z", &unit, &ctx).is_err());
/// ```
pub fn resolve_specifiers(
    text: &str,
    unit: &UnitName,
    ctx: &SpecifierContext,
) -> Result<String, SpecifierError> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let failed = |reason: String| SpecifierError::Failed {
            specifier: spec,
            reason,
        };
        match spec {
            '%' => out.push('%'),
            'n' => out.push_str(unit.as_str()),
            'N' => out.push_str(unit.without_suffix()),
            'p' => out.push_str(unit.prefix()),
            'P' => out.push_str(&name::unescape(unit.prefix()).map_err(failed)?),
            'i' => out.push_str(unit.instance().unwrap_or("")),
            'I' => out.push_str(&name::unescape(unit.instance().unwrap_or("")).map_err(failed)?),
            'j' => out.push_str(last_component(unit.prefix())),
            'J' => out.push_str(&name::unescape(last_component(unit.prefix())).map_err(failed)?),
            'f' => {
                let source = match unit.instance() {
                    Some(i) if !i.is_empty() => i,
                    _ => unit.prefix(),
                };
                out.push_str(&name::path_unescape(source).map_err(failed)?);
            }
            't' => out.push_str(&ctx.runtime_dir),
            'h' => out.push_str(&ctx.home),
            'u' => out.push_str(&ctx.user),
            'U' => out.push_str(&ctx.uid.to_string()),
            'H' => out.push_str(&ctx.hostname),
            'y' | 'Y' => {
                let path = ctx
                    .fragment
                    .as_deref()
                    .ok_or_else(|| failed("the unit has no file".into()))?;
                if spec == 'y' {
                    out.push_str(path);
                } else {
                    let dir = std::path::Path::new(path)
                        .parent()
                        .map_or_else(|| "/".into(), |d| d.display().to_string());
                    out.push_str(&dir);
                }
            }
            other => return Err(SpecifierError::Unknown(other)),
        }
    }
    Ok(out)
}

/// `%j`: the part of the prefix after its last `-`.
fn last_component(prefix: &str) -> &str {
    prefix.rsplit_once('-').map_or(prefix, |(_, last)| last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SpecifierContext {
        SpecifierContext {
            runtime_dir: "/run/user/1000".into(),
            home: "/home/al".into(),
            user: "al".into(),
            uid: 1000,
            hostname: "host".into(),
            fragment: None,
        }
    }

    #[test]
    fn table() {
        let inst = UnitName::parse("foo-bar@dev-sda1.service").unwrap();
        let plain = UnitName::parse("web-front.service").unwrap();
        let table: &[(&UnitName, &str, &str)] = &[
            (&inst, "%n", "foo-bar@dev-sda1.service"),
            (&inst, "%N", "foo-bar@dev-sda1"),
            (&inst, "%p", "foo-bar"),
            (&inst, "%P", "foo/bar"),
            (&inst, "%i", "dev-sda1"),
            (&inst, "%I", "dev/sda1"),
            (&inst, "%j", "bar"),
            (&inst, "%J", "bar"),
            (&inst, "%f", "/dev/sda1"),
            (&plain, "%n", "web-front.service"),
            (&plain, "%N", "web-front"),
            (&plain, "%p", "web-front"),
            (&plain, "%i", ""),
            (&plain, "%I", ""),
            (&plain, "%j", "front"),
            (&plain, "%f", "/web/front"),
            (&plain, "%t", "/run/user/1000"),
            (&plain, "%h", "/home/al"),
            (&plain, "%u", "al"),
            (&plain, "%U", "1000"),
            (&plain, "%H", "host"),
            (&plain, "%%", "%"),
            (&plain, "%%n", "%n"),
            (&plain, "100%", "100%"),
            (&plain, "no specifiers", "no specifiers"),
            (&plain, "a%tb%uc", "a/run/user/1000balc"),
        ];
        for (unit, input, want) in table {
            assert_eq!(
                resolve_specifiers(input, unit, &ctx()).unwrap(),
                *want,
                "{input}"
            );
        }
    }

    #[test]
    fn errors() {
        let plain = UnitName::parse("a.service").unwrap();
        assert_eq!(
            resolve_specifiers("x%zy", &plain, &ctx()),
            Err(SpecifierError::Unknown('z'))
        );
        let bad = UnitName::parse("a@b\\x2.service").unwrap();
        assert!(matches!(
            resolve_specifiers("%I", &bad, &ctx()),
            Err(SpecifierError::Failed { specifier: 'I', .. })
        ));
        // %i of the same unit is fine: it is the escaped form.
        assert_eq!(resolve_specifiers("%i", &bad, &ctx()).unwrap(), "b\\x2");
    }
}
