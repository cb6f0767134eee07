//! Finding and loading unit files from a search path: the fragment
//! (`NAME.service`, or the template `PREFIX@.service` for an instance),
//! the drop-ins (`*.conf` in `NAME.service.d/` and related directories),
//! masking, and listing the startable services.
//!
//! Search order and precedence follow systemd.unit(5):
//!
//! * `dirs` is in decreasing precedence (e.g. `/etc/systemd/system`
//!   before `/usr/lib/systemd/system`); the first directory holding the
//!   file wins;
//! * an instance `foo@bar.service` is looked up in every directory before
//!   its template `foo@.service` is;
//! * a unit file that is empty or a symlink to `/dev/null` masks the unit;
//! * drop-in directories are, for each search directory in order, those
//!   of the unit name, then (for an instance) of its template, then of
//!   its dash prefixes, e.g. for `foo-bar@baz.service`:
//!   `foo-bar@baz.service.d/`, `foo-bar@.service.d/`, `foo-.service.d/`,
//!   `foo-@baz.service.d/`, `foo-@.service.d/` (systemd's
//!   `unit_file_find_dirs()` order); finally `service.d/` in every search
//!   directory. Their `*.conf` files are applied after the fragment in
//!   lexical order of file name; of several files with the same name, the
//!   first one in that directory order is used and the others are masked
//!   (an empty file or `/dev/null` symlink masks without adding anything).
//!   Hidden files are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::config::{Builder, UnitConfig};
use crate::error::{Error, ErrorKind, Warning};
use crate::name::UnitName;
use crate::specifier::SpecifierContext;

/// A unit loaded from disk or from strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedUnit {
    /// The unit's name (for instances, the instance name, not the
    /// template's).
    pub name: UnitName,
    /// The settings.
    pub config: UnitConfig,
    /// Non-fatal problems, in the order they were found.
    pub warnings: Vec<Warning>,
    /// The main unit file (the template's file for an instance loaded
    /// from a template).
    pub fragment_path: PathBuf,
    /// The drop-ins that were applied, in order.
    pub dropin_paths: Vec<PathBuf>,
}

impl LoadedUnit {
    /// The fragment followed by the drop-ins: every file the unit was
    /// read from.
    pub fn source_paths(&self) -> Vec<PathBuf> {
        std::iter::once(self.fragment_path.clone())
            .chain(self.dropin_paths.iter().cloned())
            .collect()
    }
}

/// Builds a unit from files or strings applied in order: the first is the
/// fragment, the others are drop-ins.
///
/// ```
/// use herald_unit::{SpecifierContext, UnitParser};
/// let mut p = UnitParser::new("web.service", &SpecifierContext::system("h")).unwrap();
/// p.add_str("/etc/web.service", "[Service]\nExecStart=/bin/web --port 80\n").unwrap();
/// p.add_str("/etc/web.service.d/port.conf", "[Service]\nExecStart=\nExecStart=/bin/web --port 8080\n").unwrap();
/// let unit = p.finish().unwrap();
/// assert_eq!(unit.config.exec_start[0].argv, ["/bin/web", "--port", "8080"]);
/// ```
pub struct UnitParser {
    name: UnitName,
    builder: Builder,
    paths: Vec<PathBuf>,
}

impl UnitParser {
    /// Starts a service unit called `name` (a `.service` name that is not
    /// a bare template).
    pub fn new(name: &str, ctx: &SpecifierContext) -> Result<UnitParser, Error> {
        let name = service_name(name)?;
        Ok(UnitParser {
            builder: Builder::new(name.clone(), ctx.clone()),
            name,
            paths: Vec::new(),
        })
    }

    /// Applies `contents`, reporting problems against `path`.
    pub fn add_str(&mut self, path: impl AsRef<Path>, contents: &str) -> Result<(), Error> {
        self.add_bytes(path.as_ref(), contents.as_bytes())
    }

    /// Reads and applies the file at `path`.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| Error::new(path, 0, None, ErrorKind::Io(e)))?;
        self.add_bytes(path, &bytes)
    }

    fn add_bytes(&mut self, path: &Path, contents: &[u8]) -> Result<(), Error> {
        self.builder.apply(path, contents)?;
        self.paths.push(path.to_owned());
        Ok(())
    }

    /// Applies defaults, checks the result and returns the unit.
    pub fn finish(self) -> Result<LoadedUnit, Error> {
        let (config, warnings) = self.builder.finish()?;
        let mut paths = self.paths.into_iter();
        let fragment_path = paths.next().unwrap_or_default();
        Ok(LoadedUnit {
            name: self.name,
            config,
            warnings,
            fragment_path,
            dropin_paths: paths.collect(),
        })
    }
}

/// Parses a single unit file given as a string (no drop-ins).
///
/// ```
/// use herald_unit::{parse_unit_str, SpecifierContext};
/// let unit = parse_unit_str(
///     "a.service",
///     "/etc/a.service",
///     "[Service]\nExecStart=/bin/a\nFoo=bar\n",
///     &SpecifierContext::system("h"),
/// )
/// .unwrap();
/// assert_eq!(
///     unit.warnings[0].to_string(),
///     "/etc/a.service:3: Unknown key name 'Foo' in section 'Service', ignoring."
/// );
/// ```
pub fn parse_unit_str(
    name: &str,
    path: impl AsRef<Path>,
    contents: &str,
    ctx: &SpecifierContext,
) -> Result<LoadedUnit, Error> {
    let mut p = UnitParser::new(name, ctx)?;
    p.add_str(path, contents)?;
    p.finish()
}

fn invalid_name(name: &str, reason: impl Into<String>) -> Error {
    Error::without_file(ErrorKind::InvalidName {
        name: name.to_owned(),
        reason: reason.into(),
    })
}

/// Validates a name that is to be loaded as a service.
fn service_name(name: &str) -> Result<UnitName, Error> {
    let parsed = UnitName::parse(name).map_err(|e| invalid_name(name, e.to_string()))?;
    if parsed.unit_type() != "service" {
        return Err(invalid_name(name, "only .service units can be loaded"));
    }
    if parsed.is_template() {
        return Err(invalid_name(
            name,
            "a template cannot be loaded without an instance name",
        ));
    }
    Ok(parsed)
}

/// True for an empty regular file or a character device (`/dev/null`).
fn is_masked(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(m) => m.file_type().is_char_device() || (m.is_file() && m.len() == 0),
        Err(_) => false,
    }
}

/// The first `dir/name` that exists (following symlinks).
fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok())
}

/// Loads the service `name` from `dirs` (highest precedence first):
/// finds the fragment or template, applies the drop-ins, resolves
/// specifiers with `ctx` and checks the result.
pub fn load_unit(
    dirs: &[PathBuf],
    name: &str,
    ctx: &SpecifierContext,
) -> Result<LoadedUnit, Error> {
    let unit = service_name(name)?;
    let fragment = find_in(dirs, unit.as_str())
        .or_else(|| unit.template().and_then(|t| find_in(dirs, t.as_str())))
        .ok_or_else(|| Error::without_file(ErrorKind::NotFound(unit.to_string())))?;
    if is_masked(&fragment) {
        return Err(Error::new(
            fragment,
            0,
            None,
            ErrorKind::Masked(unit.to_string()),
        ));
    }

    let ctx = SpecifierContext {
        fragment: Some(fragment.display().to_string()),
        ..ctx.clone()
    };
    let mut parser = UnitParser::new(unit.as_str(), &ctx)?;
    parser.add_file(&fragment)?;
    for dropin in dropin_files(dirs, &unit) {
        parser.add_file(dropin)?;
    }
    parser.finish()
}

/// Names whose `NAME.d/` directories hold drop-ins for `unit` within one
/// search directory, most specific first (systemd's
/// `unit_file_find_dirs()`): the name, then (for an instance) the
/// template with its own prefixes, then the dash prefixes.
fn dropin_names(unit: &UnitName, out: &mut Vec<String>) {
    out.push(unit.as_str().to_owned());
    if let Some(template) = unit.template() {
        dropin_names(&template, out);
    }
    // Dash prefixes: "foo-bar-baz" -> "foo-bar-", which recurses to
    // "foo-". A trailing dash is chopped once before looking further.
    let mut prefix = unit.prefix();
    let mut chopped = false;
    let cut = loop {
        let Some(dash) = prefix.rfind('-') else {
            return;
        };
        if dash == 0 {
            return;
        }
        if dash + 1 != prefix.len() || chopped {
            break dash + 1;
        }
        prefix = &prefix[..dash];
        chopped = true;
    };
    let base = &prefix[..cut];
    let built = match unit.instance() {
        Some(i) if !i.is_empty() => format!("{base}@{i}.{}", unit.unit_type()),
        _ => format!("{base}.{}", unit.unit_type()),
    };
    if let Ok(next) = UnitName::parse(&built) {
        dropin_names(&next, out);
    }
}

/// The drop-in files of `unit`, in the order they are applied.
fn dropin_files(dirs: &[PathBuf], unit: &UnitName) -> Vec<PathBuf> {
    let mut names = Vec::new();
    dropin_names(unit, &mut names);

    let mut candidates: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        for n in &names {
            candidates.push(dir.join(format!("{n}.d")));
        }
    }
    for dir in dirs {
        candidates.push(dir.join(format!("{}.d", unit.unit_type())));
    }

    // File name -> first path seen (None when that first one masks).
    let mut chosen: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    let mut seen_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for dir in candidates {
        if !seen_dirs.insert(dir.clone()) {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                (name.ends_with(".conf") && !name.starts_with('.')).then(|| (name, e.path()))
            })
            .collect();
        files.sort();
        for (name, path) in files {
            if chosen.contains_key(&name) {
                continue;
            }
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let entry = if is_masked(&path) {
                None
            } else if meta.is_file() {
                Some(path)
            } else {
                continue;
            };
            chosen.insert(name, entry);
        }
    }
    chosen.into_values().flatten().collect()
}

/// Lists the services in `dirs` that can be started by name: every
/// `*.service` file with a valid name, except bare templates
/// (`foo@.service`) and masked units (empty file or `/dev/null` symlink
/// in the directory of highest precedence). Sorted, without duplicates.
/// Unreadable directories are skipped.
pub fn list_units(dirs: &[PathBuf]) -> Vec<String> {
    let mut found: BTreeMap<String, bool> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if found.contains_key(&name) {
                continue;
            }
            let Ok(unit) = UnitName::parse(&name) else {
                continue;
            };
            if unit.unit_type() != "service" || unit.is_template() {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let masked = is_masked(&path);
            if !masked && !meta.is_file() {
                continue;
            }
            found.insert(name, !masked);
        }
    }
    found
        .into_iter()
        .filter_map(|(name, usable)| usable.then_some(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ctx() -> SpecifierContext {
        SpecifierContext::system("testhost")
    }

    fn write(path: &Path, contents: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    struct Dirs {
        _tmp: tempfile::TempDir,
        etc: PathBuf,
        run: PathBuf,
        lib: PathBuf,
    }

    impl Dirs {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let etc = tmp.path().join("etc");
            let run = tmp.path().join("run");
            let lib = tmp.path().join("lib");
            for d in [&etc, &run, &lib] {
                fs::create_dir_all(d).unwrap();
            }
            Dirs {
                _tmp: tmp,
                etc,
                run,
                lib,
            }
        }

        fn all(&self) -> Vec<PathBuf> {
            vec![self.etc.clone(), self.run.clone(), self.lib.clone()]
        }
    }

    fn env_of(u: &LoadedUnit) -> Vec<(String, String)> {
        u.config.environment.clone()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn fragment_precedence() {
        let d = Dirs::new();
        write(&d.lib.join("a.service"), "[Service]\nExecStart=/bin/lib\n");
        write(&d.etc.join("a.service"), "[Service]\nExecStart=/bin/etc\n");
        let u = load_unit(&d.all(), "a.service", &ctx()).unwrap();
        assert_eq!(u.config.exec_start[0].path, "/bin/etc");
        assert_eq!(u.fragment_path, d.etc.join("a.service"));
        assert!(u.dropin_paths.is_empty());
    }

    #[test]
    fn fragment_specifiers() {
        let d = Dirs::new();
        write(
            &d.etc.join("s.service"),
            "[Service]\nExecStart=%Y/run.sh %y\n",
        );
        let u = load_unit(&d.all(), "s.service", &ctx()).unwrap();
        let dir = d.etc.display().to_string();
        assert_eq!(u.config.exec_start[0].path, format!("{dir}/run.sh"));
        assert_eq!(u.config.exec_start[0].argv[1], format!("{dir}/s.service"));
    }

    #[test]
    fn dropin_order_and_masking() {
        let d = Dirs::new();
        write(
            &d.lib.join("a.service"),
            "[Service]\nExecStart=/bin/a\nEnvironment=BASE=1\n",
        );
        // Applied in lexical order of file name, across directories.
        write(
            &d.lib.join("a.service.d/10-lib.conf"),
            "[Service]\nEnvironment=ORDER=lib10\n",
        );
        write(
            &d.etc.join("a.service.d/20-etc.conf"),
            "[Service]\nEnvironment=ORDER=etc20\n",
        );
        write(
            &d.run.join("a.service.d/30-run.conf"),
            "[Service]\nEnvironment=ORDER=run30\n",
        );
        // Same name in a higher-precedence directory masks the lower one.
        write(
            &d.lib.join("a.service.d/50-same.conf"),
            "[Service]\nEnvironment=SAME=lib\n",
        );
        write(
            &d.run.join("a.service.d/50-same.conf"),
            "[Service]\nEnvironment=SAME=run\n",
        );
        // An empty file masks without contributing.
        write(
            &d.lib.join("a.service.d/60-masked.conf"),
            "[Service]\nEnvironment=MASKED=yes\n",
        );
        write(&d.etc.join("a.service.d/60-masked.conf"), "");
        // A /dev/null symlink masks too.
        write(
            &d.lib.join("a.service.d/70-null.conf"),
            "[Service]\nEnvironment=NULL=yes\n",
        );
        symlink("/dev/null", d.run.join("a.service.d/70-null.conf")).unwrap();
        // Not *.conf, hidden: ignored.
        write(
            &d.etc.join("a.service.d/80-other.txt"),
            "[Service]\nEnvironment=TXT=1\n",
        );
        write(
            &d.etc.join("a.service.d/.90-hidden.conf"),
            "[Service]\nEnvironment=HIDDEN=1\n",
        );

        let u = load_unit(&d.all(), "a.service", &ctx()).unwrap();
        assert_eq!(
            env_of(&u),
            pairs(&[("BASE", "1"), ("ORDER", "run30"), ("SAME", "run")])
        );
        assert_eq!(
            u.dropin_paths,
            vec![
                d.lib.join("a.service.d/10-lib.conf"),
                d.etc.join("a.service.d/20-etc.conf"),
                d.run.join("a.service.d/30-run.conf"),
                d.run.join("a.service.d/50-same.conf"),
            ]
        );
        assert_eq!(u.source_paths().len(), 5);
    }

    #[test]
    fn dropin_resets_exec_start() {
        let d = Dirs::new();
        write(&d.lib.join("a.service"), "[Service]\nExecStart=/bin/old\n");
        write(
            &d.etc.join("a.service.d/override.conf"),
            "[Service]\nExecStart=/bin/new\n",
        );
        let err = load_unit(&d.all(), "a.service", &ctx()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::MultipleExecStart));
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: ExecStart: Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
                d.etc.join("a.service.d/override.conf").display()
            )
        );

        write(
            &d.etc.join("a.service.d/override.conf"),
            "[Service]\nExecStart=\nExecStart=/bin/new\n",
        );
        let u = load_unit(&d.all(), "a.service", &ctx()).unwrap();
        assert_eq!(u.config.exec_start.len(), 1);
        assert_eq!(u.config.exec_start[0].path, "/bin/new");
    }

    #[test]
    fn templates() {
        let d = Dirs::new();
        write(
            &d.lib.join("getty@.service"),
            "[Unit]\nDescription=Getty on %I\n[Service]\nExecStart=/sbin/agetty %i\n",
        );
        write(
            &d.lib.join("getty@.service.d/10-t.conf"),
            "[Service]\nEnvironment=FROM=template\n",
        );
        write(
            &d.etc.join("getty@tty1.service.d/20-i.conf"),
            "[Service]\nEnvironment=FROM2=instance\n",
        );
        let u = load_unit(&d.all(), "getty@tty1.service", &ctx()).unwrap();
        assert_eq!(u.name.as_str(), "getty@tty1.service");
        assert_eq!(u.fragment_path, d.lib.join("getty@.service"));
        assert_eq!(u.config.description.as_deref(), Some("Getty on tty1"));
        assert_eq!(u.config.exec_start[0].argv, ["/sbin/agetty", "tty1"]);
        assert_eq!(
            env_of(&u),
            pairs(&[("FROM", "template"), ("FROM2", "instance")])
        );

        // An instance file of its own wins over the template.
        write(
            &d.lib.join("getty@tty2.service"),
            "[Service]\nExecStart=/bin/special\n",
        );
        let u = load_unit(&d.all(), "getty@tty2.service", &ctx()).unwrap();
        assert_eq!(u.config.exec_start[0].path, "/bin/special");
        assert_eq!(u.fragment_path, d.lib.join("getty@tty2.service"));

        // The instance is looked up in all directories before the template.
        write(
            &d.etc.join("getty@.service"),
            "[Service]\nExecStart=/bin/etc-template\n",
        );
        let u = load_unit(&d.all(), "getty@tty2.service", &ctx()).unwrap();
        assert_eq!(u.config.exec_start[0].path, "/bin/special");

        let err = load_unit(&d.all(), "getty@.service", &ctx()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::InvalidName { .. }));
    }

    #[test]
    fn instance_dropins_are_more_specific_than_template_ones() {
        let d = Dirs::new();
        write(&d.lib.join("w@.service"), "[Service]\nExecStart=/bin/w\n");
        write(
            &d.lib.join("w@.service.d/x.conf"),
            "[Service]\nEnvironment=WHO=template\n",
        );
        write(
            &d.lib.join("w@i.service.d/x.conf"),
            "[Service]\nEnvironment=WHO=instance\n",
        );
        let u = load_unit(&d.all(), "w@i.service", &ctx()).unwrap();
        assert_eq!(env_of(&u), pairs(&[("WHO", "instance")]));
        assert_eq!(u.dropin_paths, vec![d.lib.join("w@i.service.d/x.conf")]);
    }

    #[test]
    fn dash_prefix_and_type_dropins() {
        let d = Dirs::new();
        write(
            &d.lib.join("foo-bar-baz.service"),
            "[Service]\nExecStart=/bin/x\n",
        );
        write(
            &d.lib.join("foo-.service.d/a.conf"),
            "[Service]\nEnvironment=A=foo-\n",
        );
        write(
            &d.lib.join("foo-bar-.service.d/b.conf"),
            "[Service]\nEnvironment=B=foo-bar-\n",
        );
        write(
            &d.lib.join("service.d/c.conf"),
            "[Service]\nEnvironment=C=service.d\n",
        );
        // Same file name: the more specific directory wins.
        write(
            &d.lib.join("service.d/z.conf"),
            "[Service]\nEnvironment=Z=generic\n",
        );
        write(
            &d.lib.join("foo-.service.d/z.conf"),
            "[Service]\nEnvironment=Z=foo-\n",
        );
        write(
            &d.lib.join("foo-bar-baz.service.d/z.conf"),
            "[Service]\nEnvironment=Z=specific\n",
        );
        let u = load_unit(&d.all(), "foo-bar-baz.service", &ctx()).unwrap();
        assert_eq!(
            env_of(&u),
            pairs(&[
                ("A", "foo-"),
                ("B", "foo-bar-"),
                ("C", "service.d"),
                ("Z", "specific")
            ])
        );

        let mut names = Vec::new();
        dropin_names(&UnitName::parse("a-b@c.service").unwrap(), &mut names);
        assert_eq!(
            names,
            [
                "a-b@c.service",
                "a-b@.service",
                "a-.service",
                "a-@c.service",
                "a-@.service"
            ]
        );
        names.clear();
        dropin_names(&UnitName::parse("a-.service").unwrap(), &mut names);
        assert_eq!(names, ["a-.service"]);
        names.clear();
        dropin_names(&UnitName::parse("-a.service").unwrap(), &mut names);
        assert_eq!(names, ["-a.service"]);
    }

    #[test]
    fn masked_and_missing() {
        let d = Dirs::new();
        write(&d.lib.join("m.service"), "[Service]\nExecStart=/bin/m\n");
        symlink("/dev/null", d.etc.join("m.service")).unwrap();
        let err = load_unit(&d.all(), "m.service", &ctx()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Masked(_)), "{err}");

        write(&d.lib.join("e.service"), "");
        let err = load_unit(&d.all(), "e.service", &ctx()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Masked(_)));

        let err = load_unit(&d.all(), "nope.service", &ctx()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::NotFound(_)));
        assert_eq!(err.to_string(), "Unit nope.service not found.");

        for bad in ["nope", "x.target", "bad name.service"] {
            let err = load_unit(&d.all(), bad, &ctx()).unwrap_err();
            assert!(matches!(err.kind, ErrorKind::InvalidName { .. }), "{bad}");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let d = Dirs::new();
        write(
            &d.lib.join("bad.service"),
            "[Service]\n# comment\nExecStart=/bin/true\nExecStartPre=/bin/echo \"open\n",
        );
        let err = load_unit(&d.all(), "bad.service", &ctx()).unwrap_err();
        assert_eq!(err.path, d.lib.join("bad.service"));
        assert_eq!(err.line, 4);
        assert_eq!(err.key.as_deref(), Some("ExecStartPre"));
        assert!(
            err.to_string()
                .contains("bad.service:4: ExecStartPre: Unbalanced quoting"),
            "{err}"
        );
    }

    #[test]
    fn listing() {
        let d = Dirs::new();
        write(&d.lib.join("a.service"), "x");
        write(&d.etc.join("a.service"), "x");
        write(&d.lib.join("b@.service"), "x");
        write(&d.lib.join("b@one.service"), "x");
        write(&d.lib.join("c.target"), "x");
        write(&d.lib.join("masked.service"), "x");
        symlink("/dev/null", d.etc.join("masked.service")).unwrap();
        write(&d.run.join("empty.service"), "");
        write(&d.lib.join("notes.txt"), "x");
        fs::create_dir_all(d.lib.join("dir.service")).unwrap();
        fs::create_dir_all(d.lib.join("a.service.d")).unwrap();
        let mut dirs = d.all();
        dirs.push(d.lib.join("does-not-exist"));
        assert_eq!(list_units(&dirs), ["a.service", "b@one.service"]);
    }
}
