//! Unit names: validation, splitting into prefix / instance / type, and
//! the unescaping rules used by the `%I`, `%P`, `%J` and `%f` specifiers
//! (systemd.unit(5), "STRING ESCAPING FOR INCLUSION IN UNIT NAMES").

use std::fmt;

/// Longest accepted unit name in bytes (systemd's `UNIT_NAME_MAX` - 1).
pub const UNIT_NAME_MAX: usize = 255;

/// The unit types systemd knows; any of them may appear in dependencies.
pub const UNIT_TYPES: [&str; 11] = [
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// Why a unit name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Longer than [`UNIT_NAME_MAX`].
    #[error("name is longer than {UNIT_NAME_MAX} bytes")]
    TooLong,
    /// No `.type` suffix, or an unknown one.
    #[error("name lacks a valid unit type suffix (.service, .target, ...)")]
    BadSuffix,
    /// Nothing before the suffix or before the `@`.
    #[error("name has an empty prefix")]
    EmptyPrefix,
    /// A character outside `[A-Za-z0-9:_.\\-@]`.
    #[error("name contains invalid character {0:?}")]
    InvalidChar(char),
}

/// A syntactically valid unit name such as `foo.service`,
/// `getty@.service` (a template) or `getty@tty1.service` (an instance).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitName {
    name: String,
    /// Byte index of the first `@`, if any.
    at: Option<usize>,
    /// Byte index of the last `.` (start of the type suffix).
    dot: usize,
}

fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@')
}

impl UnitName {
    /// Validates `name` (systemd's `unit_name_is_valid()`): at most 255
    /// bytes, a known type suffix, only `[A-Za-z0-9:_.\\-]` plus `@`
    /// characters, a non-empty prefix.
    pub fn parse(name: &str) -> Result<UnitName, NameError> {
        if name.len() > UNIT_NAME_MAX {
            return Err(NameError::TooLong);
        }
        let dot = name.rfind('.').ok_or(NameError::BadSuffix)?;
        if !UNIT_TYPES.contains(&&name[dot + 1..]) {
            return Err(NameError::BadSuffix);
        }
        if dot == 0 {
            return Err(NameError::EmptyPrefix);
        }
        if let Some(c) = name[..dot].chars().find(|&c| !valid_char(c)) {
            return Err(NameError::InvalidChar(c));
        }
        let at = name[..dot].find('@');
        if at == Some(0) {
            return Err(NameError::EmptyPrefix);
        }
        Ok(UnitName {
            name: name.to_owned(),
            at,
            dot,
        })
    }

    /// The full name, e.g. `getty@tty1.service`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The type suffix without the dot, e.g. `service`.
    pub fn unit_type(&self) -> &str {
        &self.name[self.dot + 1..]
    }

    /// The name without the type suffix (`%N`), e.g. `getty@tty1`.
    pub fn without_suffix(&self) -> &str {
        &self.name[..self.dot]
    }

    /// The part before the `@`, or the whole name without suffix for
    /// non-instantiated units (`%p`), e.g. `getty`.
    pub fn prefix(&self) -> &str {
        &self.name[..self.at.unwrap_or(self.dot)]
    }

    /// The instance (`%i`): `Some("tty1")` for `getty@tty1.service`,
    /// `Some("")` for the template `getty@.service`, `None` otherwise.
    pub fn instance(&self) -> Option<&str> {
        self.at.map(|at| &self.name[at + 1..self.dot])
    }

    /// True for `foo@.service`.
    pub fn is_template(&self) -> bool {
        self.instance() == Some("")
    }

    /// True for `foo@bar.service`.
    pub fn is_instance(&self) -> bool {
        self.instance().is_some_and(|i| !i.is_empty())
    }

    /// The template of an instance: `getty@.service` for
    /// `getty@tty1.service`; `None` for other names.
    pub fn template(&self) -> Option<UnitName> {
        if !self.is_instance() {
            return None;
        }
        UnitName::parse(&format!("{}@.{}", self.prefix(), self.unit_type())).ok()
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for UnitName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitName::parse(s)
    }
}

/// Turns a name given on a command line into a unit name, the way
/// `systemctl` does: a name without a known unit type suffix gets
/// `.service` appended. The result is validated.
///
/// ```
/// assert_eq!(herald_unit::normalize_name("sshd").unwrap(), "sshd.service");
/// assert_eq!(herald_unit::normalize_name("getty@tty1").unwrap(), "getty@tty1.service");
/// assert_eq!(herald_unit::normalize_name("multi-user.target").unwrap(), "multi-user.target");
/// assert_eq!(herald_unit::normalize_name("foo.bar").unwrap(), "foo.bar.service");
/// assert!(herald_unit::normalize_name("bad name").is_err());
/// ```
pub fn normalize_name(name: &str) -> Result<String, NameError> {
    let has_suffix = name
        .rfind('.')
        .is_some_and(|dot| UNIT_TYPES.contains(&&name[dot + 1..]));
    let full = if has_suffix {
        name.to_owned()
    } else {
        format!("{name}.service")
    };
    UnitName::parse(&full).map(|n| n.name)
}

/// Undoes unit name escaping: `-` becomes `/` and `\xNN` becomes the byte
/// `NN` (systemd's `unit_name_unescape()`).
pub(crate) fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => {
                out.push(b'/');
                i += 1;
            }
            b'\\' => {
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                match (b.get(i + 1), hex(i + 2), hex(i + 3)) {
                    (Some(b'x'), Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 4;
                    }
                    _ => return Err(format!("invalid escape sequence in '{s}'")),
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}' unescapes to invalid UTF-8"))
}

/// Undoes path escaping (systemd's `unit_name_path_unescape()`): `-` is
/// `/`, anything else is unescaped and gets a leading `/`.
pub(crate) fn path_unescape(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("empty path".to_owned());
    }
    if s == "-" {
        return Ok("/".to_owned());
    }
    let w = unescape(s)?;
    if w.starts_with('/') || w.ends_with('/') {
        return Err(format!("'{s}' is not a valid escaped path"));
    }
    let path = format!("/{w}");
    if path
        .split('/')
        .skip(1)
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("'{s}' is not a normalized escaped path"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_parts() {
        let n = UnitName::parse("getty@tty1.service").unwrap();
        assert_eq!(
            (n.prefix(), n.instance(), n.unit_type(), n.without_suffix()),
            ("getty", Some("tty1"), "service", "getty@tty1")
        );
        assert!(n.is_instance() && !n.is_template());
        assert_eq!(n.template().unwrap().as_str(), "getty@.service");

        let t = UnitName::parse("getty@.service").unwrap();
        assert!(t.is_template() && !t.is_instance());
        assert_eq!(t.template(), None);

        let p = UnitName::parse("foo-bar.service").unwrap();
        assert_eq!((p.prefix(), p.instance()), ("foo-bar", None));

        let nested = UnitName::parse("a@b@c.service").unwrap();
        assert_eq!((nested.prefix(), nested.instance()), ("a", Some("b@c")));

        let dotted = UnitName::parse("foo.bar.service").unwrap();
        assert_eq!(dotted.prefix(), "foo.bar");
    }

    #[test]
    fn validation() {
        let table: &[(&str, Result<(), NameError>)] = &[
            ("foo.service", Ok(())),
            ("multi-user.target", Ok(())),
            ("a:b_c\\x2d.socket", Ok(())),
            ("foo", Err(NameError::BadSuffix)),
            ("foo.bar", Err(NameError::BadSuffix)),
            (".service", Err(NameError::EmptyPrefix)),
            ("@foo.service", Err(NameError::EmptyPrefix)),
            ("foo bar.service", Err(NameError::InvalidChar(' '))),
            ("foo/bar.service", Err(NameError::InvalidChar('/'))),
            ("fö.service", Err(NameError::InvalidChar('ö'))),
        ];
        for (name, want) in table {
            assert_eq!(&UnitName::parse(name).map(|_| ()), want, "{name}");
        }
        let max = format!("{}.service", "a".repeat(UNIT_NAME_MAX - 8));
        assert!(UnitName::parse(&max).is_ok());
        let long = format!("{}.service", "a".repeat(UNIT_NAME_MAX - 7));
        assert_eq!(UnitName::parse(&long), Err(NameError::TooLong));
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_name("foo").unwrap(), "foo.service");
        assert_eq!(normalize_name("foo.service").unwrap(), "foo.service");
        assert_eq!(normalize_name("foo.socket").unwrap(), "foo.socket");
        assert!(normalize_name("").is_err());
        assert!(normalize_name("a b").is_err());
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape("dev-sda1").unwrap(), "dev/sda1");
        assert_eq!(unescape("a\\x2db").unwrap(), "a-b");
        assert_eq!(unescape("caf\\xc3\\xa9").unwrap(), "café");
        assert!(unescape("a\\x2").is_err());
        assert!(unescape("a\\y20").is_err());
        assert!(unescape("\\xff").is_err());
        assert_eq!(path_unescape("-").unwrap(), "/");
        assert_eq!(path_unescape("dev-sda1").unwrap(), "/dev/sda1");
        assert!(path_unescape("-dev").is_err());
        assert!(path_unescape("").is_err());
        assert!(path_unescape("a--b").is_err());
    }
}
