//! The lexer: turns the bytes of one unit file into section headers and
//! `Key=Value` assignments, following systemd.syntax(7) and the behaviour
//! of systemd's `config_parse()`:
//!
//! * lines whose first non-blank character is `#` or `;` are comments and
//!   are dropped, even in the middle of a continuation;
//! * a line ending in an odd number of backslashes continues on the next
//!   line; the final backslash is replaced by a space and the next line is
//!   appended verbatim (its leading blanks included);
//! * a logical line is reported at the number of its *last* physical line,
//!   and a continuation still open at end of file at that number plus one,
//!   as systemd does;
//! * key and value are trimmed of surrounding whitespace;
//! * a UTF-8 byte order mark at the start of the file is skipped;
//! * lines of more than 1 MiB are refused.
//!
//! Section validity and key lookup are left to `config`.

use crate::error::{ErrorKind, WarningKind};

/// Longest line systemd accepts (`LONG_LINE_MAX`).
pub(crate) const LONG_LINE_MAX: usize = 1 << 20;

const WHITESPACE: &[u8] = b" \t\n\r";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One meaningful line of a unit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// `[Name]`
    Section { name: String, line: usize },
    /// `Key=Value`
    Assignment {
        key: String,
        value: String,
        line: usize,
    },
    /// A line that was ignored, with the reason.
    Warning {
        line: usize,
        kind: WarningKind,
        message: String,
    },
}

/// A fatal lexing problem with the line it was found on.
#[derive(Debug)]
pub(crate) struct LexError {
    pub(crate) line: usize,
    pub(crate) kind: ErrorKind,
}

fn is_ws(b: u8) -> bool {
    WHITESPACE.contains(&b)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// True if the string has no control characters, quotes or backslashes
/// (systemd's `string_is_safe()`).
pub(crate) fn string_is_safe(s: &str) -> bool {
    !s.bytes()
        .any(|b| (1..b' ').contains(&b) || b == 0x7f || matches!(b, b'"' | b'\'' | b'\\'))
}

/// True if the (possibly joined) line ends in an unescaped backslash.
fn ends_with_escape(line: &[u8]) -> bool {
    line.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Splits `contents` into events.
pub(crate) fn lex(contents: &[u8]) -> Result<Vec<Event>, LexError> {
    let mut events = Vec::new();
    let mut continuation: Option<Vec<u8>> = None;
    let mut line_no = 0usize;

    let mut rest = contents;
    if rest.starts_with(BOM) {
        rest = &rest[BOM.len()..];
    }

    let mut lines = rest.split(|&b| b == b'\n').peekable();
    while let Some(raw) = lines.next() {
        // A trailing newline produces one empty last piece: not a line.
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > LONG_LINE_MAX {
            return Err(LexError {
                line: line_no,
                kind: ErrorKind::LineTooLong,
            });
        }

        let stripped = trim_start(raw);
        if matches!(stripped.first(), Some(b'#' | b';')) {
            continue;
        }

        let mut logical = match continuation.take() {
            Some(mut c) => {
                if c.len() + raw.len() > LONG_LINE_MAX {
                    return Err(LexError {
                        line: line_no,
                        kind: ErrorKind::ContinuationTooLong,
                    });
                }
                c.extend_from_slice(raw);
                c
            }
            None => raw.to_vec(),
        };

        if ends_with_escape(&logical) {
            let last = logical.len() - 1;
            logical[last] = b' ';
            continuation = Some(logical);
            continue;
        }

        parse_line(&logical, line_no, &mut events)?;
    }

    if let Some(c) = continuation {
        parse_line(&c, line_no + 1, &mut events)?;
    }
    Ok(events)
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn parse_line(l: &[u8], line: usize, events: &mut Vec<Event>) -> Result<(), LexError> {
    let l = trim(l);
    if l.is_empty() {
        return Ok(());
    }
    let Ok(l) = std::str::from_utf8(l) else {
        events.push(Event::Warning {
            line,
            kind: WarningKind::Syntax,
            message: "Line contains invalid UTF-8, ignoring.".to_owned(),
        });
        return Ok(());
    };

    if let Some(inner) = l.strip_prefix('[') {
        let Some(name) = inner.strip_suffix(']') else {
            return Err(LexError {
                line,
                kind: ErrorKind::InvalidSectionHeader(l.to_owned()),
            });
        };
        if !string_is_safe(name) {
            return Err(LexError {
                line,
                kind: ErrorKind::BadSectionHeader(l.to_owned()),
            });
        }
        events.push(Event::Section {
            name: name.to_owned(),
            line,
        });
        return Ok(());
    }

    match l.find('=') {
        None => events.push(Event::Warning {
            line,
            kind: WarningKind::Syntax,
            message: "Missing '=', ignoring line.".to_owned(),
        }),
        Some(0) => events.push(Event::Warning {
            line,
            kind: WarningKind::Syntax,
            message: "Missing key name before '=', ignoring line.".to_owned(),
        }),
        Some(eq) => {
            let key = l[..eq].trim_matches(|c: char| c.is_ascii() && is_ws(c as u8));
            let value = l[eq + 1..].trim_matches(|c: char| c.is_ascii() && is_ws(c as u8));
            events.push(Event::Assignment {
                key: key.to_owned(),
                value: value.to_owned(),
                line,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignments(src: &str) -> Vec<(String, String, usize)> {
        lex(src.as_bytes())
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                Event::Assignment { key, value, line } => Some((key, value, line)),
                _ => None,
            })
            .collect()
    }

    fn one(src: &str) -> (String, String, usize) {
        let mut a = assignments(src);
        assert_eq!(a.len(), 1, "{src:?} gave {a:?}");
        a.remove(0)
    }

    #[test]
    fn key_value_trimming() {
        let table: &[(&str, &str, &str)] = &[
            ("A=b", "A", "b"),
            ("  A  =  b c  ", "A", "b c"),
            ("\tA\t=\tb\t", "A", "b"),
            ("A=", "A", ""),
            ("A=   ", "A", ""),
            ("A==b", "A", "=b"),
            ("A=b=c", "A", "b=c"),
            ("A=\"  quoted  \"", "A", "\"  quoted  \""),
            ("Key With Space = v", "Key With Space", "v"),
        ];
        for (src, k, v) in table {
            let (key, value, line) = one(src);
            assert_eq!((key.as_str(), value.as_str(), line), (*k, *v, 1), "{src:?}");
        }
    }

    #[test]
    fn comments() {
        let table: &[(&str, usize)] = &[
            ("# c\nA=b", 2),
            ("; c\nA=b", 2),
            ("   # indented\nA=b", 2),
            ("\t; indented\nA=b", 2),
            ("\n\n# c\n\nA=b", 5),
        ];
        for (src, line) in table {
            let (k, v, l) = one(src);
            assert_eq!((k.as_str(), v.as_str(), l), ("A", "b", *line), "{src:?}");
        }
        // A '#' that is not first on the line is part of the value.
        assert_eq!(one("A=b # not a comment").1, "b # not a comment");
    }

    #[test]
    fn continuations() {
        let table: &[(&str, &str, usize)] = &[
            ("A=b \\\nc", "b  c", 2),
            ("A=b\\\nc", "b c", 2),
            ("A=b\\\n   c", "b    c", 2),
            ("A=one\\\ntwo\\\nthree", "one two three", 3),
            // comment lines inside a continuation are skipped
            ("A=one\\\n# comment\ntwo", "one two", 3),
            ("A=one\\\n ; comment\\\ntwo", "one two", 3),
            // an escaped backslash does not continue
            ("A=b\\\\\nB=c", "b\\\\", 1),
            // three backslashes: escaped backslash + continuation
            ("A=b\\\\\\\nc", "b\\\\ c", 2),
            // an empty line ends the continuation
            ("A=b\\\n\nB=c", "b", 2),
            // continuation open at end of file: reported one past the end
            ("A=b\\", "b", 2),
            ("A=b\\\n", "b", 2),
            // CRLF line endings
            ("A=b\\\r\nc\r\n", "b c", 2),
        ];
        for (src, v, line) in table {
            let a = assignments(src);
            assert_eq!(a[0].0, "A", "{src:?}");
            assert_eq!((a[0].1.as_str(), a[0].2), (*v, *line), "{src:?}");
        }
    }

    #[test]
    fn sections_and_bom() {
        let ev = lex(b"\xEF\xBB\xBF[Unit]\nA=b\n[Service]\n").unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Section {
                    name: "Unit".into(),
                    line: 1
                },
                Event::Assignment {
                    key: "A".into(),
                    value: "b".into(),
                    line: 2
                },
                Event::Section {
                    name: "Service".into(),
                    line: 3
                },
            ]
        );
        assert_eq!(
            lex(b"  [X-Foo]  ").unwrap(),
            vec![Event::Section {
                name: "X-Foo".into(),
                line: 1
            }]
        );
    }

    #[test]
    fn bad_section_headers_are_errors() {
        for (src, line) in [("[Unit", 1), ("A=b\n[Unit] # c", 2), ("[Un\"it]", 1)] {
            let err = lex(src.as_bytes()).unwrap_err();
            assert_eq!(err.line, line, "{src:?}");
            assert!(
                matches!(
                    err.kind,
                    ErrorKind::InvalidSectionHeader(_) | ErrorKind::BadSectionHeader(_)
                ),
                "{src:?}"
            );
        }
    }

    #[test]
    fn malformed_lines_are_warnings() {
        let ev = lex(b"novalue\n=x\nA=\xff\n").unwrap();
        let msgs: Vec<_> = ev
            .iter()
            .map(|e| match e {
                Event::Warning { line, message, .. } => (*line, message.as_str()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            msgs,
            vec![
                (1, "Missing '=', ignoring line."),
                (2, "Missing key name before '=', ignoring line."),
                (3, "Line contains invalid UTF-8, ignoring."),
            ]
        );
    }

    #[test]
    fn long_lines_refused() {
        let mut long = b"A=".to_vec();
        long.resize(LONG_LINE_MAX + 3, b'x');
        assert!(matches!(
            lex(&long).unwrap_err().kind,
            ErrorKind::LineTooLong
        ));

        let mut cont = b"A=".to_vec();
        cont.resize(LONG_LINE_MAX - 10, b'x');
        cont.extend_from_slice(b"\\\n");
        cont.extend(std::iter::repeat(b'y').take(100));
        let err = lex(&cont).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::ContinuationTooLong));
        assert_eq!(err.line, 2);
    }
}
