//! Command lines (`ExecStart=` and friends, systemd.service(5) "COMMAND
//! LINES"): word splitting with systemd's quoting and C escapes, the
//! `-` `@` `:` `+` `!` `!!` prefixes, `;` separators and `\;`, and the
//! spawn-time `$VAR` / `${VAR}` expansion ([`expand_command`]).
//!
//! Word splitting follows systemd's `extract_first_word()` with
//! `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`: words are separated by blanks;
//! single and double quotes may appear anywhere in a word and group
//! blanks; inside and outside quotes a backslash starts a C escape
//! (`\a \b \f \n \r \t \v \\ \" \' \s \xNN \NNN \uNNNN \UNNNNNNNN`). An
//! unknown escape is kept verbatim with a warning, unbalanced quotes are
//! an error.

use std::fmt;

use crate::error::WarningKind;
use crate::specifier::SpecifierError;
use crate::value;

const WHITESPACE: &[u8] = b" \t\n\r";

fn is_ws(b: u8) -> bool {
    WHITESPACE.contains(&b)
}

/// Why a string could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// A quote is not closed.
    #[error("unbalanced quoting")]
    UnbalancedQuotes,
    /// An unknown or malformed escape sequence, or a trailing backslash.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// `\x`/octal escapes produced bytes that are not UTF-8.
    #[error("escape sequences produce invalid UTF-8")]
    InvalidUtf8,
}

/// Options of the word splitter (a subset of systemd's `ExtractFlags`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SplitFlags {
    /// Quotes group words and are removed (`EXTRACT_UNQUOTE`).
    pub(crate) unquote: bool,
    /// Backslash starts a C escape (`EXTRACT_CUNESCAPE`); without it a
    /// backslash just makes the next character literal.
    pub(crate) cunescape: bool,
    /// Invalid escapes are kept verbatim (`EXTRACT_CUNESCAPE_RELAX`).
    pub(crate) cunescape_relax: bool,
    /// Unbalanced quotes and a trailing backslash are accepted
    /// (`EXTRACT_RELAX`).
    pub(crate) relax: bool,
    /// Backslashes are ordinary characters (`EXTRACT_RETAIN_ESCAPE`).
    pub(crate) retain_escape: bool,
}

/// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`.
pub(crate) const UNQUOTE_CUNESCAPE: SplitFlags = SplitFlags {
    unquote: true,
    cunescape: true,
    cunescape_relax: false,
    relax: false,
    retain_escape: false,
};

enum Unescaped {
    Byte(u8),
    Char(char),
}

fn hex_digits(b: &[u8], n: usize) -> Option<u32> {
    if b.len() < n {
        return None;
    }
    b[..n]
        .iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + (c as char).to_digit(16)?))
}

/// Decodes one C escape; `b` starts after the backslash. Returns the
/// result and how many bytes of `b` it used.
fn cunescape_one(b: &[u8]) -> Option<(Unescaped, usize)> {
    let simple = |c: u8| Some((Unescaped::Byte(c), 1));
    match *b.first()? {
        b'a' => simple(0x07),
        b'b' => simple(0x08),
        b'f' => simple(0x0c),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(0x0b),
        b'\\' => simple(b'\\'),
        b'"' => simple(b'"'),
        b'\'' => simple(b'\''),
        b's' => simple(b' '),
        b'x' => {
            let v = hex_digits(&b[1..], 2)?;
            (v != 0).then_some((Unescaped::Byte(v as u8), 3))
        }
        b'u' => {
            let v = hex_digits(&b[1..], 4)?;
            let c = char::from_u32(v).filter(|_| v != 0)?;
            Some((Unescaped::Char(c), 5))
        }
        b'U' => {
            let v = hex_digits(&b[1..], 8)?;
            let reserved = (0xFDD0..=0xFDEF).contains(&v) || (v & 0xFFFE) == 0xFFFE;
            let c = char::from_u32(v).filter(|_| v != 0 && !reserved)?;
            Some((Unescaped::Char(c), 9))
        }
        b'0'..=b'7' => {
            if b.len() < 3 || !b[..3].iter().all(|c| (b'0'..=b'7').contains(c)) {
                return None;
            }
            let v = b[..3]
                .iter()
                .fold(0u32, |acc, &c| acc * 8 + u32::from(c - b'0'));
            (v != 0 && v <= 255).then_some((Unescaped::Byte(v as u8), 3))
        }
        _ => None,
    }
}

/// Extracts the word starting at byte `*pos` of `s` (leading blanks are
/// skipped), advancing `*pos` past it and past the blanks that follow.
/// Returns `Ok(None)` when only blanks remain.
pub(crate) fn extract_word(
    s: &str,
    pos: &mut usize,
    flags: SplitFlags,
) -> Result<Option<String>, SplitError> {
    let b = s.as_bytes();
    let mut i = *pos;
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    if i >= b.len() {
        *pos = b.len();
        return Ok(None);
    }

    let mut out = Vec::new();
    let mut quote: Option<u8> = None;
    loop {
        let Some(&c) = b.get(i) else {
            if quote.is_some() && !flags.relax {
                return Err(SplitError::UnbalancedQuotes);
            }
            break;
        };
        if c == b'\\' && !flags.retain_escape {
            i += 1;
            let Some(&next) = b.get(i) else {
                if flags.cunescape_relax && (quote.is_none() || flags.relax) {
                    out.push(b'\\');
                    break;
                }
                if flags.relax {
                    break;
                }
                return Err(SplitError::InvalidEscape);
            };
            if flags.cunescape {
                match cunescape_one(&b[i..]) {
                    Some((Unescaped::Byte(v), n)) => {
                        out.push(v);
                        i += n;
                    }
                    Some((Unescaped::Char(ch), n)) => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += n;
                    }
                    None if flags.cunescape_relax => {
                        out.push(b'\\');
                        out.push(next);
                        i += 1;
                    }
                    None => return Err(SplitError::InvalidEscape),
                }
            } else {
                out.push(next);
                i += 1;
            }
            continue;
        }
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                } else {
                    out.push(c);
                }
                i += 1;
            }
            None if flags.unquote && (c == b'"' || c == b'\'') => {
                quote = Some(c);
                i += 1;
            }
            None if is_ws(c) => {
                while i < b.len() && is_ws(b[i]) {
                    i += 1;
                }
                break;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    *pos = i;
    String::from_utf8(out)
        .map(Some)
        .map_err(|_| SplitError::InvalidUtf8)
}

/// Like [`extract_word`] with `UNQUOTE|CUNESCAPE`, but retries with
/// relaxed escapes after a failure, as systemd's
/// `extract_first_word_and_warn()` does. The flag is true when the retry
/// was needed (unknown escapes were kept verbatim).
fn extract_word_and_warn(s: &str, pos: &mut usize) -> Result<Option<(String, bool)>, SplitError> {
    let save = *pos;
    match extract_word(s, pos, UNQUOTE_CUNESCAPE) {
        Ok(w) => Ok(w.map(|w| (w, false))),
        Err(SplitError::InvalidUtf8) => Err(SplitError::InvalidUtf8),
        Err(_) => {
            *pos = save;
            let relaxed = SplitFlags {
                cunescape_relax: true,
                ..UNQUOTE_CUNESCAPE
            };
            match extract_word(s, pos, relaxed) {
                Ok(w) => Ok(w.map(|w| (w, true))),
                Err(SplitError::InvalidUtf8) => Err(SplitError::InvalidUtf8),
                Err(_) => Err(SplitError::UnbalancedQuotes),
            }
        }
    }
}

/// Splits `s` into words with systemd's quoting and C escapes (strict:
/// unknown escapes and unbalanced quotes are errors).
///
/// ```
/// assert_eq!(
///     herald_unit::split_words(r#"a "b c" 'd\se' f\x41"#).unwrap(),
///     vec!["a", "b c", "d e", "fA"]
/// );
/// ```
pub fn split_words(s: &str) -> Result<Vec<String>, SplitError> {
    let mut pos = 0;
    let mut words = Vec::new();
    while let Some(w) = extract_word(s, &mut pos, UNQUOTE_CUNESCAPE)? {
        words.push(w);
    }
    Ok(words)
}

/// Quotes `word` so that [`split_words`] (and `ExecStart=`) reads it back
/// as exactly one word equal to `word`. Words made only of
/// `[A-Za-z0-9-_./:=+,@%^]` are returned as they are; everything else is
/// put in double quotes with `\\`, `\"` and control characters escaped.
///
/// Specifiers (`%`) and variables (`$`) are not protected: they are
/// resolved after splitting.
///
/// ```
/// use herald_unit::{quote_word, split_words};
/// let words = ["plain", "two words", "", "quote\"and\\slash", "tab\there"];
/// let line: Vec<String> = words.iter().map(|w| quote_word(w)).collect();
/// assert_eq!(split_words(&line.join(" ")).unwrap(), words);
/// ```
pub fn quote_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,@%^".contains(&b));
    if safe {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // NUL cannot be written as an escape; it is kept as it is.
            '\0' => out.push('\0'),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Privilege prefix of a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Privilege {
    /// No prefix: `User=`, `Group=` and sandboxing apply.
    #[default]
    Normal,
    /// `+`: run with full privileges, ignoring `User=`/`Group=` and
    /// sandboxing.
    Full,
    /// `!`: sandboxing applies, but not the `User=`/`Group=` switch.
    NoSetuid,
    /// `!!`: like `!` on systems without ambient capabilities, otherwise
    /// like no prefix.
    AmbientMagic,
}

/// One command of `ExecStart=`, `ExecStartPre=`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    /// The executable: an absolute path (normalized: no `//`, no `/./`)
    /// or a bare file name to be looked up in `$PATH` at spawn time.
    pub path: String,
    /// The argument vector, `argv[0]` included. Specifiers are already
    /// resolved; `$VAR`s are not (see [`expand_command`]).
    pub argv: Vec<String>,
    /// `-` prefix: a failure exit status is treated as success.
    pub ignore_failure: bool,
    /// `@` prefix: `argv[0]` was given separately (second word).
    pub separate_argv0: bool,
    /// `:` prefix: no environment variable expansion.
    pub no_env_expand: bool,
    /// `+`, `!`, `!!` prefixes.
    pub privilege: Privilege,
}

impl ExecCommand {
    /// True when [`path`](Self::path) is absolute; otherwise the manager
    /// searches `$PATH` for it when spawning.
    pub fn is_absolute(&self) -> bool {
        self.path.starts_with('/')
    }
}

impl fmt::Display for ExecCommand {
    /// Formats the command back into `ExecStart=` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ignore_failure {
            f.write_str("-")?;
        }
        if self.separate_argv0 {
            f.write_str("@")?;
        }
        if self.no_env_expand {
            f.write_str(":")?;
        }
        f.write_str(match self.privilege {
            Privilege::Normal => "",
            Privilege::Full => "+",
            Privilege::NoSetuid => "!",
            Privilege::AmbientMagic => "!!",
        })?;
        f.write_str(&quote_word(&self.path))?;
        let skip = usize::from(!self.separate_argv0);
        for arg in self.argv.iter().skip(skip) {
            write!(f, " {}", quote_word(arg))?;
        }
        Ok(())
    }
}

/// Result of parsing one `Exec*=` value.
#[derive(Debug, Default)]
pub(crate) struct ExecParse {
    pub(crate) commands: Vec<ExecCommand>,
    pub(crate) warnings: Vec<(WarningKind, String)>,
}

/// A fatal problem in an `Exec*=` value.
#[derive(Debug)]
pub(crate) enum ExecFailure {
    Invalid(String),
    Specifier { text: String, error: SpecifierError },
}

/// Parses an `Exec*=` value (already non-empty and trimmed). `resolve`
/// resolves specifiers; it is applied to each word after unquoting.
pub(crate) fn parse_exec(
    rvalue: &str,
    resolve: &dyn Fn(&str) -> Result<String, SpecifierError>,
) -> Result<ExecParse, ExecFailure> {
    let mut parsed = ExecParse::default();
    let mut p = 0usize;
    let rest = |p: usize| &rvalue.as_bytes()[p.min(rvalue.len())..];

    loop {
        let first = match extract_word_and_warn(rvalue, &mut p) {
            Ok(Some((w, relaxed))) => {
                if relaxed {
                    parsed.warnings.push(escape_warning(&w));
                }
                w
            }
            Ok(None) => return Ok(parsed),
            Err(e) => return Err(ExecFailure::Invalid(split_message(e, rvalue, ""))),
        };
        // A lone ";" (undocumented, kept for compatibility) separates
        // commands; it is never an executable name.
        if first == ";" {
            continue;
        }

        let mut cmd = ExecCommand {
            path: String::new(),
            argv: Vec::new(),
            ignore_failure: false,
            separate_argv0: false,
            no_env_expand: false,
            privilege: Privilege::Normal,
        };
        let mut f = first.as_str();
        loop {
            match f.as_bytes().first() {
                Some(b'-') if !cmd.ignore_failure => cmd.ignore_failure = true,
                Some(b'@') if !cmd.separate_argv0 => cmd.separate_argv0 = true,
                Some(b':') if !cmd.no_env_expand => cmd.no_env_expand = true,
                Some(b'+') if cmd.privilege == Privilege::Normal => cmd.privilege = Privilege::Full,
                Some(b'!') if cmd.privilege == Privilege::Normal => {
                    cmd.privilege = Privilege::NoSetuid;
                }
                Some(b'!') if cmd.privilege == Privilege::NoSetuid => {
                    cmd.privilege = Privilege::AmbientMagic;
                }
                _ => break,
            }
            f = &f[1..];
        }
        let ignore = cmd.ignore_failure;
        let suffix = if ignore { ", ignoring" } else { "" };
        // With "-", problems from here on drop the command with a warning.
        let fail = |parsed: &mut ExecParse, failure: ExecFailure| {
            if ignore {
                let msg = match failure {
                    ExecFailure::Invalid(m) => m,
                    ExecFailure::Specifier { text, error } => {
                        format!("Failed to resolve unit specifiers in '{text}', ignoring: {error}")
                    }
                };
                parsed.warnings.push((WarningKind::IgnoredCommand, msg));
                Ok(std::mem::take(parsed))
            } else {
                Err(failure)
            }
        };

        let path = match resolve(f) {
            Ok(path) => path,
            Err(error) => {
                let text = f.to_owned();
                return fail(&mut parsed, ExecFailure::Specifier { text, error });
            }
        };
        let problem = if path.is_empty() {
            Some(format!("Empty path in command line{suffix}: '{rvalue}'"))
        } else if !crate::syntax::string_is_safe(&path) {
            Some(format!(
                "Executable name contains special characters{suffix}: {path}"
            ))
        } else if path.ends_with('/') {
            Some(format!(
                "Executable path specifies a directory{suffix}: {path}"
            ))
        } else if !(if path.starts_with('/') {
            value::path_is_valid_absolute(&path)
        } else {
            value::filename_is_valid(&path)
        }) {
            Some(format!(
                "Neither a valid executable name nor an absolute path{suffix}: {path}"
            ))
        } else {
            None
        };
        if let Some(msg) = problem {
            return fail(&mut parsed, ExecFailure::Invalid(msg));
        }
        if !cmd.separate_argv0 {
            cmd.argv.push(path.clone());
        }
        cmd.path = value::path_simplify(&path);

        let mut semicolon = false;
        loop {
            let r = rest(p);
            if r.is_empty() {
                break;
            }
            if r[0] == b';' && none_or_ws(r.get(1)) {
                p += 1;
                skip_ws(rvalue, &mut p);
                semicolon = true;
                break;
            }
            if r.starts_with(b"\\;") && none_or_ws(r.get(2)) {
                p += 2;
                skip_ws(rvalue, &mut p);
                cmd.argv.push(";".to_owned());
                continue;
            }
            let word = match extract_word_and_warn(rvalue, &mut p) {
                Ok(Some((w, relaxed))) => {
                    if relaxed {
                        parsed.warnings.push(escape_warning(&w));
                    }
                    w
                }
                Ok(None) => break,
                Err(e) => {
                    let msg = split_message(e, rvalue, suffix);
                    return fail(&mut parsed, ExecFailure::Invalid(msg));
                }
            };
            match resolve(&word) {
                Ok(w) => cmd.argv.push(w),
                Err(error) => {
                    return fail(&mut parsed, ExecFailure::Specifier { text: word, error });
                }
            }
        }

        if cmd.argv.is_empty() {
            let msg = format!("Empty executable name or zeroeth argument{suffix}: {rvalue}");
            return fail(&mut parsed, ExecFailure::Invalid(msg));
        }
        parsed.commands.push(cmd);
        if !semicolon {
            return Ok(parsed);
        }
    }
}

/// True at the end of the value or before a blank.
fn none_or_ws(b: Option<&u8>) -> bool {
    b.map_or(true, |b| is_ws(*b))
}

fn skip_ws(s: &str, p: &mut usize) {
    let b = s.as_bytes();
    while *p < b.len() && is_ws(b[*p]) {
        *p += 1;
    }
}

fn escape_warning(word: &str) -> (WarningKind, String) {
    (
        WarningKind::InvalidValue,
        format!("Ignoring unknown escape sequences: \"{word}\""),
    )
}

fn split_message(e: SplitError, rvalue: &str, suffix: &str) -> String {
    match e {
        SplitError::UnbalancedQuotes => format!("Unbalanced quoting{suffix}: \"{rvalue}\""),
        other => format!("Unable to decode word \"{rvalue}\"{suffix}: {other}"),
    }
}

/// Outcome of [`expand_command_report`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expansion {
    /// The expanded argument vector.
    pub argv: Vec<String>,
    /// Variables referenced but not set (they expanded to nothing);
    /// sorted, without duplicates. systemd logs these.
    pub unset: Vec<String>,
    /// `$NAME` words whose NAME is not a valid variable name (they
    /// expanded to nothing); sorted, without duplicates.
    pub invalid: Vec<String>,
}

/// Expands environment variables in a command's arguments, as systemd
/// does when it spawns the command (`replace_env_argv()`):
///
/// * a word that is exactly `$NAME` becomes the variable's value split at
///   whitespace (quotes in the value group words), i.e. zero or more
///   words; an unset variable yields no word at all;
/// * `${NAME}` anywhere in a word is replaced by the value as is (empty
///   when unset); `${NAME:-x}`-style syntax is not supported and left as
///   it is;
/// * `$$` becomes `$`; a `$` followed by anything else stays;
/// * nothing is expanded when the command has the `:` prefix.
///
/// When a variable occurs more than once in `env`, the last one wins.
///
/// ```
/// use herald_unit::{expand_command, parse_unit_str, SpecifierContext};
/// let unit = parse_unit_str(
///     "demo.service",
///     "demo.service",
///     "[Service]\nExecStart=/bin/echo $OPTS ${NAME}x $$HOME $UNSET\n",
///     &SpecifierContext::system("host"),
/// )
/// .unwrap();
/// let env = [("OPTS".into(), "-a  -b".into()), ("NAME".into(), "n m".into())];
/// assert_eq!(
///     expand_command(&unit.config.exec_start[0], &env),
///     vec!["/bin/echo", "-a", "-b", "n mx", "$HOME"]
/// );
/// ```
pub fn expand_command(cmd: &ExecCommand, env: &[(String, String)]) -> Vec<String> {
    expand_command_report(cmd, env).argv
}

/// [`expand_command`], also reporting unset and invalid variable names.
pub fn expand_command_report(cmd: &ExecCommand, env: &[(String, String)]) -> Expansion {
    if cmd.no_env_expand {
        return Expansion {
            argv: cmd.argv.clone(),
            ..Expansion::default()
        };
    }
    let mut exp = Expansion::default();
    for word in &cmd.argv {
        if let Some(name) = word.strip_prefix('$') {
            if !name.starts_with('{') && !name.starts_with('$') {
                if !value::env_name_is_valid(name) {
                    exp.invalid.push(name.to_owned());
                } else if let Some(v) = lookup(env, name) {
                    exp.argv.extend(split_value(v));
                } else {
                    exp.unset.push(name.to_owned());
                }
                continue;
            }
        }
        let replaced = replace_env(word, env, &mut exp);
        exp.argv.push(replaced);
    }
    exp.unset.sort();
    exp.unset.dedup();
    exp.invalid.sort();
    exp.invalid.dedup();
    exp
}

/// The value of `name` in `env`; the last assignment wins.
fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits a variable value for `$NAME` (`EXTRACT_RELAX|EXTRACT_UNQUOTE`).
fn split_value(v: &str) -> Vec<String> {
    let flags = SplitFlags {
        unquote: true,
        relax: true,
        ..SplitFlags::default()
    };
    let mut pos = 0;
    let mut out = Vec::new();
    while let Ok(Some(w)) = extract_word(v, &mut pos, flags) {
        out.push(w);
    }
    out
}

/// `${NAME}` and `$$` replacement within one word.
fn replace_env(word: &str, env: &[(String, String)], exp: &mut Expansion) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = after.strip_prefix('{') {
            match body.find(['}', ':']) {
                Some(j) if body.as_bytes()[j] == b'}' => {
                    let name = &body[..j];
                    match lookup(env, name) {
                        Some(v) => out.push_str(v),
                        None if value::env_name_is_valid(name) => exp.unset.push(name.to_owned()),
                        None => exp.invalid.push(name.to_owned()),
                    }
                    rest = &body[j + 1..];
                }
                Some(j) => {
                    // "${NAME:..." is unsupported syntax: keep it literally
                    // and go on after the colon.
                    out.push_str("${");
                    out.push_str(&body[..=j]);
                    rest = &body[j + 1..];
                }
                None => {
                    out.push_str("${");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_spec(s: &str) -> Result<String, SpecifierError> {
        Ok(s.to_owned())
    }

    fn exec(s: &str) -> Vec<ExecCommand> {
        let parsed = parse_exec(s, &no_spec).unwrap_or_else(|e| panic!("{s:?}: {e:?}"));
        parsed.commands
    }

    fn argv(s: &str) -> Vec<String> {
        let mut c = exec(s);
        assert_eq!(c.len(), 1, "{s:?}");
        c.remove(0).argv
    }

    #[test]
    fn quoting_and_escapes() {
        let table: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("  a\tb  ", &["a", "b"]),
            (r#""a b""#, &["a b"]),
            ("'a b'", &["a b"]),
            (r#"a"b c"d"#, &["ab cd"]),
            (r#"'a"b'"#, &["a\"b"]),
            (r#""a'b""#, &["a'b"]),
            (r#""""#, &[""]),
            ("''", &[""]),
            (r#"a "" b"#, &["a", "", "b"]),
            (r"\a\b\f\n\r\t\v", &["\x07\x08\x0c\n\r\t\x0b"]),
            (r#"\\ \" \'"#, &["\\", "\"", "'"]),
            (r"a\sb", &["a b"]),
            (r"\x41\x7a", &["Az"]),
            (r"\101\172", &["Az"]),
            (r"\u00e9\U0001F600", &["é😀"]),
            (r"\xc3\xa9", &["é"]),
            (r#""in \"quotes\" \t""#, &["in \"quotes\" \t"]),
            (r"'single \x41'", &["single A"]),
            ("caf\u{e9} ok", &["café", "ok"]),
        ];
        for (input, want) in table {
            assert_eq!(split_words(input).unwrap(), *want, "{input:?}");
        }
    }

    #[test]
    fn split_errors() {
        let table: &[(&str, SplitError)] = &[
            (r#""open"#, SplitError::UnbalancedQuotes),
            ("'open", SplitError::UnbalancedQuotes),
            (r"bad\q", SplitError::InvalidEscape),
            (r"\x4", SplitError::InvalidEscape),
            (r"\x00", SplitError::InvalidEscape),
            (r"\000", SplitError::InvalidEscape),
            (r"\400", SplitError::InvalidEscape),
            (r"\u0000", SplitError::InvalidEscape),
            (r"\ud800", SplitError::InvalidEscape),
            (r"\U00110000", SplitError::InvalidEscape),
            (r"\UFFFFFFFF", SplitError::InvalidEscape),
            ("trailing\\", SplitError::InvalidEscape),
            (r"\xff", SplitError::InvalidUtf8),
        ];
        for (input, want) in table {
            assert_eq!(split_words(input).unwrap_err(), *want, "{input:?}");
        }
    }

    #[test]
    fn relaxed_escapes_warn() {
        let parsed = parse_exec(r"/bin/echo a\qb x\ y c\", &no_spec).unwrap();
        assert_eq!(
            parsed.commands[0].argv,
            ["/bin/echo", r"a\qb", r"x\ y", r"c\"]
        );
        assert_eq!(parsed.warnings.len(), 3);
        assert!(parsed.warnings[0]
            .1
            .contains("Ignoring unknown escape sequences"));
    }

    #[test]
    fn prefixes() {
        type Row = (
            &'static str,
            bool,
            bool,
            bool,
            Privilege,
            &'static str,
            &'static [&'static str],
        );
        let table: &[Row] = &[
            (
                "/bin/true",
                false,
                false,
                false,
                Privilege::Normal,
                "/bin/true",
                &["/bin/true"],
            ),
            (
                "-/bin/true",
                true,
                false,
                false,
                Privilege::Normal,
                "/bin/true",
                &["/bin/true"],
            ),
            (
                "@/bin/sh sh -c x",
                false,
                true,
                false,
                Privilege::Normal,
                "/bin/sh",
                &["sh", "-c", "x"],
            ),
            (
                ":/bin/echo $X",
                false,
                false,
                true,
                Privilege::Normal,
                "/bin/echo",
                &["/bin/echo", "$X"],
            ),
            (
                "+/bin/id",
                false,
                false,
                false,
                Privilege::Full,
                "/bin/id",
                &["/bin/id"],
            ),
            (
                "!/bin/id",
                false,
                false,
                false,
                Privilege::NoSetuid,
                "/bin/id",
                &["/bin/id"],
            ),
            (
                "!!/bin/id",
                false,
                false,
                false,
                Privilege::AmbientMagic,
                "/bin/id",
                &["/bin/id"],
            ),
            (
                "-@:+/bin/x y",
                true,
                true,
                true,
                Privilege::Full,
                "/bin/x",
                &["y"],
            ),
            (
                ":-!!/bin/x",
                true,
                false,
                true,
                Privilege::AmbientMagic,
                "/bin/x",
                &["/bin/x"],
            ),
            (
                "\"-/bin/quoted\"",
                true,
                false,
                false,
                Privilege::Normal,
                "/bin/quoted",
                &["/bin/quoted"],
            ),
            (
                "echo hi",
                false,
                false,
                false,
                Privilege::Normal,
                "echo",
                &["echo", "hi"],
            ),
            (
                "/usr//bin/./env A",
                false,
                false,
                false,
                Privilege::Normal,
                "/usr/bin/env",
                &["/usr//bin/./env", "A"],
            ),
        ];
        for (input, ign, sep, noexp, prv, path, args) in table {
            let c = exec(input);
            assert_eq!(c.len(), 1, "{input}");
            let c = &c[0];
            assert_eq!(
                (
                    c.ignore_failure,
                    c.separate_argv0,
                    c.no_env_expand,
                    c.privilege
                ),
                (*ign, *sep, *noexp, *prv),
                "{input}"
            );
            assert_eq!(c.path, *path, "{input}");
            assert_eq!(c.argv, *args, "{input}");
        }
        assert!(exec("/bin/x")[0].is_absolute());
        assert!(!exec("x")[0].is_absolute());
    }

    #[test]
    fn invalid_commands() {
        let table: &[(&str, &str)] = &[
            ("@", "Empty path in command line"),
            ("@/bin/x", "Empty executable name or zeroeth argument"),
            ("/bin/", "Executable path specifies a directory"),
            (
                "bin/x",
                "Neither a valid executable name nor an absolute path",
            ),
            (
                "+!/bin/x",
                "Neither a valid executable name nor an absolute path",
            ),
            (
                "!!!/bin/x",
                "Neither a valid executable name nor an absolute path",
            ),
            ("'/bin/a\"b'", "Executable name contains special characters"),
            ("/bin/x \"open", "Unbalanced quoting"),
            ("\"/bin/x", "Unbalanced quoting"),
        ];
        for (input, want) in table {
            match parse_exec(input, &no_spec) {
                Err(ExecFailure::Invalid(msg)) => assert!(msg.starts_with(want), "{input}: {msg}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn dash_prefix_turns_errors_into_warnings() {
        for line in ["-", "--/bin/x", "-/bin/", "-@/bin/x"] {
            let parsed = parse_exec(line, &no_spec).unwrap();
            assert!(parsed.commands.is_empty(), "{line}");
            assert_eq!(parsed.warnings.len(), 1, "{line}");
            assert!(parsed.warnings[0].1.contains(", ignoring"), "{line}");
        }
        let parsed = parse_exec("-/bin/x \"open", &no_spec).unwrap();
        assert!(parsed.commands.is_empty());
        assert_eq!(parsed.warnings[0].0, WarningKind::IgnoredCommand);
        assert!(parsed.warnings[0].1.contains(", ignoring"));

        let failing = |s: &str| -> Result<String, SpecifierError> {
            if s.contains("%z") {
                Err(SpecifierError::Unknown('z'))
            } else {
                Ok(s.to_owned())
            }
        };
        assert!(matches!(
            parse_exec("/bin/x %z", &failing),
            Err(ExecFailure::Specifier { .. })
        ));
        let parsed = parse_exec("-/bin/x %z", &failing).unwrap();
        assert!(parsed.commands.is_empty());
        assert_eq!(parsed.warnings.len(), 1);
    }

    #[test]
    fn semicolons() {
        let c = exec("/bin/a 1 ; /bin/b 2");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].argv, ["/bin/a", "1"]);
        assert_eq!(c[1].argv, ["/bin/b", "2"]);

        assert_eq!(
            argv(r"/usr/bin/find . -exec rm {} \;"),
            ["/usr/bin/find", ".", "-exec", "rm", "{}", ";"]
        );
        assert_eq!(argv("/bin/echo a;b"), ["/bin/echo", "a;b"]);
        assert_eq!(argv("/bin/echo \";\""), ["/bin/echo", ";"]);
        assert_eq!(argv(r"/bin/echo \\;"), ["/bin/echo", "\\;"]);
        assert_eq!(exec("; /bin/a").len(), 1);
        assert_eq!(exec("/bin/a ;").len(), 1);
    }

    #[test]
    fn display_round_trips() {
        for line in [
            "-@/bin/sh sh -c \"echo hi\"",
            ":+/bin/x \"a b\" c",
            "!!/bin/y",
        ] {
            let c = exec(line);
            let again = exec(&c[0].to_string());
            assert_eq!(c, again, "{line}");
        }
    }

    fn cmd(line: &str) -> ExecCommand {
        exec(line).remove(0)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expansion() {
        let e = env(&[
            ("A", "one"),
            ("B", "x  y \"z w\""),
            ("EMPTY", ""),
            ("A", "last"),
        ]);
        let table: &[(&str, &[&str])] = &[
            ("/bin/e $A", &["/bin/e", "last"]),
            ("/bin/e $B", &["/bin/e", "x", "y", "z w"]),
            ("/bin/e ${B}", &["/bin/e", "x  y \"z w\""]),
            ("/bin/e $EMPTY end", &["/bin/e", "end"]),
            ("/bin/e ${EMPTY}", &["/bin/e", ""]),
            ("/bin/e $UNSET end", &["/bin/e", "end"]),
            ("/bin/e ${UNSET}x", &["/bin/e", "x"]),
            ("/bin/e pre${A}post", &["/bin/e", "prelastpost"]),
            ("/bin/e $$A", &["/bin/e", "$A"]),
            ("/bin/e a$$b", &["/bin/e", "a$b"]),
            ("/bin/e a$Ab", &["/bin/e", "a$Ab"]),
            ("/bin/e $", &["/bin/e"]),
            ("/bin/e a$", &["/bin/e", "a$"]),
            ("/bin/e ${A", &["/bin/e", "${A"]),
            ("/bin/e ${A:-d}", &["/bin/e", "${A:-d}"]),
            ("/bin/e ${X:-${A}}", &["/bin/e", "${X:-last}"]),
            ("/bin/e $A-x", &["/bin/e"]),
            ("/bin/e '$A'", &["/bin/e", "last"]),
            (":/bin/e $A ${A} $$", &["/bin/e", "$A", "${A}", "$$"]),
            ("@/bin/e $A", &["last"]),
        ];
        for (line, want) in table {
            assert_eq!(expand_command(&cmd(line), &e), *want, "{line}");
        }
        let rep = expand_command_report(&cmd("/bin/e $U1 ${U2} $U1 $A-x"), &e);
        assert_eq!(rep.unset, ["U1", "U2"]);
        assert_eq!(rep.invalid, ["A-x"]);
    }

    proptest! {
        #[test]
        fn quote_then_split_round_trips(words in proptest::collection::vec(any::<String>(), 0..8)) {
            let line: Vec<String> = words.iter().map(|w| quote_word(w)).collect();
            prop_assert_eq!(split_words(&line.join(" ")).unwrap(), words);
        }

        #[test]
        fn quoted_exec_lines_round_trip(args in proptest::collection::vec("[^%$\\x00]*", 0..6)) {
            let mut line = String::from("/bin/prog");
            for a in &args {
                line.push(' ');
                line.push_str(&quote_word(a));
            }
            let parsed = parse_exec(&line, &no_spec).unwrap();
            prop_assert_eq!(parsed.commands.len(), 1);
            prop_assert_eq!(&parsed.commands[0].argv[1..], &args[..]);
        }
    }
}
