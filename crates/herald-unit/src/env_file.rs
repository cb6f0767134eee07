//! Contents of `EnvironmentFile=` files, parsed with the rules of
//! systemd's `load_env_file()` (systemd.exec(5)):
//!
//! * `KEY=VALUE` per line; blanks around the key, and leading blanks of
//!   the value, are dropped; trailing blanks of an unquoted value too;
//! * lines starting with `#` or `;` are comments (a backslash at the end
//!   of a comment does *not* continue it, as in systemd ≥ 254);
//! * single quotes keep everything literally (newlines included);
//! * in double quotes, `\"`, `\\`, `` \` `` and `\$` are unescaped, a
//!   backslash-newline is removed, any other backslash is kept;
//! * outside quotes a backslash makes the next character literal and a
//!   backslash-newline continues the value on the next line;
//! * quoted and unquoted pieces concatenate (`A="x" y` is `xy`);
//! * a line without `=` is ignored; `KEY=` sets the empty string;
//! * `export KEY=VALUE` is *not* supported: the key `export KEY` is
//!   invalid, so the line is ignored, like any other invalid name;
//! * a variable set twice keeps its first position and its last value;
//! * a file containing a NUL byte is refused, as systemd refuses it.
//!
//! No C escapes (`\n`) and no variable expansion are performed.

use std::path::Path;

use crate::value::env_name_is_valid;

/// An assignment that was dropped because its name is not a valid
/// environment variable name (systemd logs "Ignoring invalid environment
/// assignment").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredAssignment {
    /// 1-based line where the assignment starts.
    pub line: usize,
    /// The offending key.
    pub key: String,
}

/// A parsed environment file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvFile {
    /// The variables, in order of first appearance.
    pub vars: Vec<(String, String)>,
    /// Assignments dropped because of invalid names.
    pub ignored: Vec<IgnoredAssignment>,
}

/// Why an environment file was refused as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvFileError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not valid UTF-8.
    #[error("environment file is not valid UTF-8")]
    InvalidUtf8,
    /// The file contains a NUL byte.
    #[error("environment file contains a NUL byte on line {0}")]
    Nul(usize),
}

/// Parses the contents of an environment file, dropping assignments with
/// invalid names. See the module documentation for the rules.
///
/// ```
/// let vars = herald_unit::parse_environment_file(
///     "# comment\nA=1\nB = \"two words\"\nC='$literal'\nD=a\\\nb\n",
/// )
/// .unwrap();
/// assert_eq!(
///     vars,
///     vec![
///         ("A".to_string(), "1".to_string()),
///         ("B".to_string(), "two words".to_string()),
///         ("C".to_string(), "$literal".to_string()),
///         ("D".to_string(), "ab".to_string()),
///     ]
/// );
/// ```
pub fn parse_environment_file(contents: &str) -> Result<Vec<(String, String)>, EnvFileError> {
    parse_environment_file_report(contents).map(|f| f.vars)
}

/// Reads and parses an environment file.
pub fn read_environment_file(path: &Path) -> Result<EnvFile, EnvFileError> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| EnvFileError::InvalidUtf8)?;
    parse_environment_file_report(&text)
}

/// Records one assignment: invalid names are reported, a repeated name
/// keeps its position and takes the new value.
fn push(file: &mut EnvFile, key: &mut String, value: &mut String, at: usize) {
    let k = std::mem::take(key);
    let v = std::mem::take(value);
    if !env_name_is_valid(&k) {
        file.ignored.push(IgnoredAssignment { line: at, key: k });
        return;
    }
    match file.vars.iter_mut().find(|(name, _)| *name == k) {
        Some(slot) => slot.1 = v,
        None => file.vars.push((k, v)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuote,
    DoubleQuote,
    DoubleQuoteEscape,
    Comment,
    CommentEscape,
}

fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Like [`parse_environment_file`], also listing ignored assignments.
pub fn parse_environment_file_report(contents: &str) -> Result<EnvFile, EnvFileError> {
    if let Some(pos) = contents.find('\0') {
        let line = contents[..pos].matches('\n').count() + 1;
        return Err(EnvFileError::Nul(line));
    }

    let mut file = EnvFile::default();
    let mut state = State::PreKey;
    let mut key = String::new();
    let mut value = String::new();
    // Length of key/value before their current run of trailing blanks.
    let mut key_ws: Option<usize> = None;
    let mut value_ws: Option<usize> = None;
    let mut line = 1usize;
    let mut start_line = 1usize;

    for c in contents.chars() {
        match state {
            State::PreKey => {
                if c == '#' || c == ';' {
                    state = State::Comment;
                } else if !is_ws(c) {
                    state = State::Key;
                    start_line = line;
                    key.clear();
                    key.push(c);
                    key_ws = None;
                }
            }
            State::Key => {
                if is_newline(c) {
                    state = State::PreKey;
                    key.clear();
                } else if c == '=' {
                    state = State::PreValue;
                    value.clear();
                    value_ws = None;
                    if let Some(n) = key_ws.take() {
                        key.truncate(n);
                    }
                } else {
                    if !is_ws(c) {
                        key_ws = None;
                    } else if key_ws.is_none() {
                        key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if is_newline(c) {
                    state = State::PreKey;
                    push(&mut file, &mut key, &mut value, start_line);
                } else if c == '\'' {
                    state = State::SingleQuote;
                } else if c == '"' {
                    state = State::DoubleQuote;
                } else if c == '\\' {
                    state = State::ValueEscape;
                } else if !is_ws(c) {
                    state = State::Value;
                    value.push(c);
                }
            }
            State::Value => {
                if is_newline(c) {
                    state = State::PreKey;
                    if let Some(n) = value_ws.take() {
                        value.truncate(n);
                    }
                    push(&mut file, &mut key, &mut value, start_line);
                } else if c == '\\' {
                    state = State::ValueEscape;
                    value_ws = None;
                } else {
                    if !is_ws(c) {
                        value_ws = None;
                    } else if value_ws.is_none() {
                        value_ws = Some(value.len());
                    }
                    value.push(c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                if !is_newline(c) {
                    value.push(c);
                }
            }
            State::SingleQuote => {
                if c == '\'' {
                    state = State::PreValue;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuote => {
                if c == '"' {
                    state = State::PreValue;
                } else if c == '\\' {
                    state = State::DoubleQuoteEscape;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteEscape => {
                state = State::DoubleQuote;
                if matches!(c, '"' | '\\' | '`' | '$') {
                    value.push(c);
                } else if c != '\n' {
                    value.push('\\');
                    value.push(c);
                }
            }
            State::Comment => {
                if c == '\\' {
                    state = State::CommentEscape;
                } else if is_newline(c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => {
                state = if is_newline(c) {
                    State::PreKey
                } else {
                    State::Comment
                };
            }
        }
        if c == '\n' {
            line += 1;
        }
    }

    match state {
        State::Value => {
            if let Some(n) = value_ws {
                value.truncate(n);
            }
            push(&mut file, &mut key, &mut value, start_line);
        }
        State::PreValue
        | State::ValueEscape
        | State::SingleQuote
        | State::DoubleQuote
        | State::DoubleQuoteEscape => push(&mut file, &mut key, &mut value, start_line),
        State::PreKey | State::Key | State::Comment | State::CommentEscape => {}
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(s: &str) -> Vec<(String, String)> {
        parse_environment_file(s).unwrap()
    }

    fn one(s: &str) -> (String, String) {
        let mut v = vars(s);
        assert_eq!(v.len(), 1, "{s:?} gave {v:?}");
        v.remove(0)
    }

    #[test]
    fn table() {
        let table: &[(&str, &str, &str)] = &[
            ("A=b", "A", "b"),
            ("A=b\n", "A", "b"),
            ("  A  =  b  \n", "A", "b"),
            ("A=b c", "A", "b c"),
            ("A=", "A", ""),
            ("A=\n", "A", ""),
            ("A=''", "A", ""),
            ("A=\"b c\"", "A", "b c"),
            ("A='b c'", "A", "b c"),
            ("A=\"  padded  \"", "A", "  padded  "),
            ("A='$HOME \\n'", "A", "$HOME \\n"),
            ("A=\"\\\" \\\\ \\` \\$\"", "A", "\" \\ ` $"),
            ("A=\"\\n\\t\"", "A", "\\n\\t"),
            ("A=\"one\\\ntwo\"", "A", "onetwo"),
            ("A='multi\nline'", "A", "multi\nline"),
            ("A=b\\\nc", "A", "bc"),
            ("A=b\\ c", "A", "b c"),
            ("A=\\\"q\\\"", "A", "\"q\""),
            ("A=\\n", "A", "n"),
            ("A=\"x\" y", "A", "xy"),
            ("A=\"x\"'y'z", "A", "xyz"),
            ("A=x\"y\"", "A", "x\"y\""),
            ("A=b # not a comment", "A", "b # not a comment"),
            ("A=b\\ ", "A", "b "),
            ("A=\"unterminated", "A", "unterminated"),
            ("A=b\r\n", "A", "b"),
            ("\n\n  \nA=b", "A", "b"),
            ("# c\nA=b", "A", "b"),
            ("; c\nA=b", "A", "b"),
            ("  # indented comment\nA=b", "A", "b"),
            ("# comment \\\nA=b", "A", "b"),
            ("junk line\nA=b", "A", "b"),
        ];
        for (input, k, v) in table {
            assert_eq!(one(input), (k.to_string(), v.to_string()), "{input:?}");
        }
    }

    #[test]
    fn duplicates_and_order() {
        assert_eq!(
            vars("A=1\nB=2\nA=3\n"),
            vec![("A".into(), "3".into()), ("B".into(), "2".into())]
        );
    }

    #[test]
    fn invalid_names_are_reported() {
        let f = parse_environment_file_report("export A=1\n9X=2\nOK=3\nA-B=4\n").unwrap();
        assert_eq!(f.vars, vec![("OK".to_string(), "3".to_string())]);
        let ignored: Vec<_> = f.ignored.iter().map(|i| (i.line, i.key.as_str())).collect();
        assert_eq!(ignored, vec![(1, "export A"), (2, "9X"), (4, "A-B")]);
    }

    #[test]
    fn nul_is_refused() {
        assert!(matches!(
            parse_environment_file("A=1\nB=\0\n"),
            Err(EnvFileError::Nul(2))
        ));
    }

    #[test]
    fn read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("env");
        std::fs::write(&p, "A=1\n").unwrap();
        assert_eq!(read_environment_file(&p).unwrap().vars.len(), 1);
        std::fs::write(&p, b"A=\xff\n").unwrap();
        assert!(matches!(
            read_environment_file(&p),
            Err(EnvFileError::InvalidUtf8)
        ));
        assert!(matches!(
            read_environment_file(&dir.path().join("missing")),
            Err(EnvFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
    }
}
