//! GNU `getopt_long()` semantics on top of lexopt: options and operands may be mixed
//! (operands are collected in order), `--` ends options, long options may be
//! abbreviated to any unambiguous prefix, `--opt=VALUE` and `--opt VALUE` for required
//! arguments, only `--opt=VALUE` for optional ones. Errors are printed in glibc's words,
//! so a drop-in tool fails exactly like the original.

use std::ffi::OsString;

/// How an option takes its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    /// `no_argument`.
    No,
    /// `required_argument`.
    Required,
    /// `optional_argument`.
    Optional,
}

/// One entry of the option table.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    /// Long name, without dashes.
    pub long: &'static str,
    /// Short letter, if any.
    pub short: Option<char>,
    /// Argument kind.
    pub has_arg: HasArg,
}

impl OptSpec {
    /// An option without argument.
    pub const fn flag(long: &'static str, short: Option<char>) -> OptSpec {
        OptSpec {
            long,
            short,
            has_arg: HasArg::No,
        }
    }
    /// An option with a required argument.
    pub const fn required(long: &'static str) -> OptSpec {
        OptSpec {
            long,
            short: None,
            has_arg: HasArg::Required,
        }
    }
    /// An option with an optional argument.
    pub const fn optional(long: &'static str) -> OptSpec {
        OptSpec {
            long,
            short: None,
            has_arg: HasArg::Optional,
        }
    }
}

/// A parsed argument.
#[derive(Debug, PartialEq, Eq)]
pub enum Arg {
    /// An option by its full long name, with its value if it has one.
    Opt(&'static str, Option<OsString>),
    /// An operand.
    Positional(OsString),
}

/// Resolves `name` against the table: exact match first, else the unique prefix match.
fn resolve<'t>(prog: &str, name: &str, table: &'t [OptSpec]) -> Result<&'t OptSpec, ()> {
    if let Some(s) = table.iter().find(|s| s.long == name) {
        return Ok(s);
    }
    let matches: Vec<&OptSpec> = table.iter().filter(|s| s.long.starts_with(name)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            eprintln!("{prog}: unrecognized option '--{name}'");
            Err(())
        }
        many => {
            let list: Vec<String> = many.iter().map(|s| format!("'--{}'", s.long)).collect();
            eprintln!(
                "{prog}: option '--{name}' is ambiguous; possibilities: {}",
                list.join(" ")
            );
            Err(())
        }
    }
}

/// Parses `args` (without the program name) against `table`. On error the message has
/// been printed to stderr, prefixed with `prog`, as glibc does.
pub fn parse(prog: &str, args: &[OsString], table: &'static [OptSpec]) -> Result<Vec<Arg>, ()> {
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    let mut out = Vec::new();
    loop {
        let arg = match parser.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(lexopt::Error::UnexpectedValue { option, .. }) => {
                eprintln!("{prog}: option '{option}' doesn't allow an argument");
                return Err(());
            }
            Err(e) => {
                eprintln!("{prog}: {e}");
                return Err(());
            }
        };
        match arg {
            lexopt::Arg::Value(v) => out.push(Arg::Positional(v)),
            lexopt::Arg::Short(c) => {
                let Some(spec) = table.iter().find(|s| s.short == Some(c)) else {
                    eprintln!("{prog}: invalid option -- '{c}'");
                    return Err(());
                };
                out.push(Arg::Opt(spec.long, None));
            }
            lexopt::Arg::Long(name) => {
                let name = name.to_owned();
                let spec = resolve(prog, &name, table)?;
                let value = match spec.has_arg {
                    HasArg::No => {
                        if parser.optional_value().is_some() {
                            eprintln!("{prog}: option '--{}' doesn't allow an argument", spec.long);
                            return Err(());
                        }
                        None
                    }
                    HasArg::Optional => parser.optional_value(),
                    HasArg::Required => match parser.value() {
                        Ok(v) => Some(v),
                        Err(_) => {
                            eprintln!("{prog}: option '--{}' requires an argument", spec.long);
                            return Err(());
                        }
                    },
                };
                out.push(Arg::Opt(spec.long, value));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[OptSpec] = &[
        OptSpec::flag("help", Some('h')),
        OptSpec::flag("ready", None),
        OptSpec::flag("reloading", None),
        OptSpec::optional("pid"),
        OptSpec::required("status"),
    ];

    fn p(args: &[&str]) -> Result<Vec<Arg>, ()> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse("t", &args, T)
    }

    fn opt(n: &'static str, v: Option<&str>) -> Arg {
        Arg::Opt(n, v.map(OsString::from))
    }

    #[test]
    fn getopt_long_rules() {
        assert_eq!(
            p(&["A=1", "--ready", "B=2"]).unwrap(),
            vec![
                Arg::Positional("A=1".into()),
                opt("ready", None),
                Arg::Positional("B=2".into())
            ]
        );
        assert_eq!(
            p(&["--rea"]).unwrap(),
            vec![opt("ready", None)],
            "unique prefix"
        );
        assert!(p(&["--re"]).is_err(), "ambiguous prefix");
        assert_eq!(
            p(&["--status", "x"]).unwrap(),
            vec![opt("status", Some("x"))]
        );
        assert_eq!(
            p(&["--status=x=y"]).unwrap(),
            vec![opt("status", Some("x=y"))]
        );
        assert_eq!(p(&["--status="]).unwrap(), vec![opt("status", Some(""))]);
        assert!(p(&["--status"]).is_err(), "missing required argument");
        assert_eq!(
            p(&["--pid", "5"]).unwrap(),
            vec![opt("pid", None), Arg::Positional("5".into())],
            "optional takes only ="
        );
        assert_eq!(p(&["--pid=5"]).unwrap(), vec![opt("pid", Some("5"))]);
        assert!(p(&["--ready=1"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["-x"]).is_err());
        assert_eq!(p(&["-h"]).unwrap(), vec![opt("help", None)]);
        assert_eq!(
            p(&["--", "--ready"]).unwrap(),
            vec![Arg::Positional("--ready".into())]
        );
        assert_eq!(p(&["-"]).unwrap(), vec![Arg::Positional("-".into())]);
    }
}
