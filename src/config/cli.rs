//! The command-line grammar: argparse's behaviour, driven by the settings table.
//!
//! This file owns how one argument list (argv, or a split `GUNICORN_CMD_ARGS`)
//! becomes a list of (setting, raw value) pairs: option spellings, `--opt=v`,
//! `-wN`, bundled short switches, unambiguous long prefixes (Gunicorn's
//! parser keeps argparse's default `allow_abbrev=True`), `--`, and argparse's
//! error wording. It also owns the shell-like split of `*_CMD_ARGS` and the
//! `--help` text. It must never validate values beyond argparse's own
//! `type=int` conversion: setting rules live in `value.rs`, so a config file
//! gets exactly the same checks.

use super::table::{Kind, Section, Setting, Status, SETTINGS};
use super::value::{py_auto_int, py_int_base10, py_repr, Input};

/// What an option string refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Setting(usize),
    Help,
    Version,
}

const HELP_FLAGS: &[&str] = &["-h", "--help"];
const VERSION_FLAGS: &[&str] = &["-v", "--version"];

fn options() -> Vec<(&'static str, Target)> {
    let mut out: Vec<(&'static str, Target)> = Vec::new();
    out.extend(HELP_FLAGS.iter().map(|f| (*f, Target::Help)));
    out.extend(VERSION_FLAGS.iter().map(|f| (*f, Target::Version)));
    for (i, s) in SETTINGS.iter().enumerate() {
        out.extend(s.flags.iter().map(|f| (*f, Target::Setting(i))));
    }
    out
}

fn target_label(t: Target) -> String {
    match t {
        Target::Setting(i) => SETTINGS[i].flag_label(),
        Target::Help => HELP_FLAGS.join("/"),
        Target::Version => VERSION_FLAGS.join("/"),
    }
}

/// How one argument string is read, per argparse's `_parse_optional`.
enum Class {
    Positional,
    Option {
        target: Target,
        option: String,
        explicit: Option<String>,
    },
    Unknown,
    Ambiguous(Vec<&'static str>),
}

fn classify(arg: &str, opts: &[(&'static str, Target)]) -> Class {
    if !arg.starts_with('-') {
        return Class::Positional;
    }
    if let Some(&(_, t)) = opts.iter().find(|(o, _)| *o == arg) {
        return Class::Option {
            target: t,
            option: arg.to_string(),
            explicit: None,
        };
    }
    if arg.len() == 1 {
        return Class::Positional; // a lone "-" is a value (stdout, stdin...)
    }
    if let Some((o, v)) = arg.split_once('=') {
        if let Some(&(_, t)) = opts.iter().find(|(name, _)| *name == o) {
            return Class::Option {
                target: t,
                option: o.to_string(),
                explicit: Some(v.to_string()),
            };
        }
    }
    // Abbreviations, as argparse's `_get_option_tuples`.
    let mut matches: Vec<(&'static str, Target, Option<String>)> = Vec::new();
    if arg.starts_with("--") {
        let (prefix, explicit) = match arg.split_once('=') {
            Some((p, v)) => (p, Some(v.to_string())),
            None => (arg, None),
        };
        for &(o, t) in opts {
            if o.starts_with(prefix) {
                matches.push((o, t, explicit.clone()));
            }
        }
    } else {
        // `-w4`: the two-character option plus an attached value.
        let cut = arg.char_indices().nth(2).map_or(arg.len(), |(i, _)| i);
        let (short, rest) = arg.split_at(cut);
        let short_ok = short.chars().count() == 2;
        for &(o, t) in opts {
            if short_ok && o == short {
                matches.push((o, t, Some(rest.to_string())));
            } else if o.starts_with(arg) {
                matches.push((o, t, None));
            }
        }
    }
    match matches.len() {
        1 => {
            let (o, t, explicit) = matches.remove(0);
            Class::Option {
                target: t,
                option: o.to_string(),
                explicit,
            }
        }
        0 => {
            // No option looks like a negative number, so "-1" is a value, and
            // argparse treats anything containing a space as a value too.
            if is_negative_number(arg) || arg.contains(' ') {
                Class::Positional
            } else {
                Class::Unknown
            }
        }
        _ => Class::Ambiguous(matches.into_iter().map(|(o, _, _)| o).collect()),
    }
}

fn is_negative_number(arg: &str) -> bool {
    let Some(body) = arg.strip_prefix('-') else {
        return false;
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match body.split_once('.') {
        None => all_digits(body),
        Some((int, frac)) => (int.is_empty() || all_digits(int)) && all_digits(frac),
    }
}

/// The result of parsing one argument list.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Per setting index: the last value given (appended lists accumulate),
    /// with the option spelling used. Ordered by first appearance.
    pub items: Vec<(usize, Input)>,
    pub positionals: Vec<String>,
    pub help: bool,
    pub version: bool,
}

impl Parsed {
    fn put(&mut self, idx: usize, input: Input) {
        let append = SETTINGS[idx].kind == Kind::List;
        if let Some(slot) = self.items.iter_mut().find(|(i, _)| *i == idx) {
            match (&mut slot.1, input, append) {
                (Input::List(existing), Input::List(more), true) => existing.extend(more),
                (old, new, _) => *old = new,
            }
        } else {
            self.items.push((idx, input));
        }
    }
}

/// Parse one argument list. Errors are argparse's message, without the
/// `prog: error: ` prefix. Help and version stop parsing where they appear,
/// as argparse's actions do.
pub fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let opts = options();
    // argparse classifies every argument before consuming any, so an
    // ambiguous abbreviation is reported before anything else.
    let mut classes = Vec::with_capacity(args.len());
    let mut seen_dashdash = false;
    for a in args {
        if seen_dashdash {
            classes.push(Class::Positional);
            continue;
        }
        if a == "--" {
            seen_dashdash = true;
            classes.push(Class::Positional); // placeholder, handled below
            continue;
        }
        let c = classify(a, &opts);
        if let Class::Ambiguous(m) = &c {
            return Err(format!(
                "ambiguous option: {} could match {}",
                a,
                m.join(", ")
            ));
        }
        classes.push(c);
    }

    let mut out = Parsed::default();
    let mut unknown: Vec<String> = Vec::new();
    let mut i = 0;
    let mut dashdash_done = false;
    while i < args.len() {
        let arg = &args[i];
        if !dashdash_done && arg == "--" {
            dashdash_done = true;
            i += 1;
            continue;
        }
        let class = std::mem::replace(&mut classes[i], Class::Positional);
        i += 1;
        match class {
            Class::Positional | Class::Ambiguous(_) => out.positionals.push(arg.clone()),
            Class::Unknown => unknown.push(arg.clone()),
            Class::Option {
                target,
                option,
                explicit,
            } => {
                let mut target = target;
                let mut option = option;
                let mut explicit = explicit;
                // Bundled switches (`-DR`, `-Dw4`): argparse re-reads what
                // follows a valueless short option as another short option.
                loop {
                    let takes_value = match target {
                        Target::Setting(idx) => SETTINGS[idx].kind.takes_value(),
                        Target::Help | Target::Version => false,
                    };
                    if takes_value {
                        let value = match explicit.take() {
                            Some(v) => v,
                            None => {
                                let next_is_value = i < args.len()
                                    && (args[i] != "--" || dashdash_done)
                                    && matches!(classes[i], Class::Positional);
                                if !next_is_value {
                                    return Err(format!(
                                        "argument {}: expected one argument",
                                        target_label(target)
                                    ));
                                }
                                i += 1;
                                args[i - 1].clone()
                            }
                        };
                        if let Target::Setting(idx) = target {
                            let input = convert(&SETTINGS[idx], &value)?;
                            out.put(idx, input);
                        }
                        break;
                    }
                    match target {
                        Target::Help => out.help = true,
                        Target::Version => out.version = true,
                        Target::Setting(idx) => {
                            let v = SETTINGS[idx].kind == Kind::Flag;
                            out.put(idx, Input::Bool(v));
                        }
                    }
                    if out.help || out.version {
                        return Ok(out);
                    }
                    let Some(rest) = explicit.take() else { break };
                    let short_bundle =
                        option.len() == 2 && !option.starts_with("--") && !rest.is_empty();
                    let next = if short_bundle {
                        let mut chars = rest.chars();
                        let first = chars.next().map(|c| format!("-{c}")).unwrap_or_default();
                        opts.iter()
                            .find(|(o, _)| *o == first)
                            .map(|&(o, t)| (o, t, chars.as_str().to_string()))
                    } else {
                        None
                    };
                    match next {
                        Some((o, t, remaining)) => {
                            target = t;
                            option = o.to_string();
                            explicit = if remaining.is_empty() {
                                None
                            } else {
                                Some(remaining)
                            };
                        }
                        None => {
                            return Err(format!(
                                "argument {}: ignored explicit argument {}",
                                target_label(target),
                                py_repr(&rest)
                            ))
                        }
                    }
                }
            }
        }
    }
    if !unknown.is_empty() {
        let noun = if unknown.len() == 1 {
            "argument"
        } else {
            "arguments"
        };
        return Err(format!("unrecognized {noun}: {}", unknown.join(" ")));
    }
    Ok(out)
}

/// argparse's `type=` conversion for a flag's value.
fn convert(setting: &Setting, value: &str) -> Result<Input, String> {
    let label = setting.flag_label();
    match setting.kind {
        Kind::Int => py_int_base10(value)
            .map(Input::Int)
            .ok_or_else(|| format!("argument {label}: invalid int value: {}", py_repr(value))),
        Kind::OctalInt => py_auto_int(value).map(Input::Int).ok_or_else(|| {
            format!(
                "argument {label}: invalid auto_int value: {}",
                py_repr(value)
            )
        }),
        Kind::List => Ok(Input::List(vec![value.to_string()])),
        _ => Ok(Input::Str(value.to_string())),
    }
}

/// `shlex.split` (POSIX mode, no comments), as Gunicorn applies to
/// `GUNICORN_CMD_ARGS`.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_token {
                    out.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            '\\' => {
                in_token = true;
                match chars.next() {
                    Some(n) => token.push(n),
                    None => return Err("No escaped character".into()),
                }
            }
            '\'' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => token.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash only escapes `"` and `\`.
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\')) => token.push(n),
                            Some(n) => {
                                token.push('\\');
                                token.push(n);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(n) => token.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            c => {
                in_token = true;
                token.push(c);
            }
        }
    }
    if in_token {
        out.push(token);
    }
    Ok(out)
}

/// The `--help` text: one line per setting that has a flag, grouped by section.
pub fn help_text() -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut out = String::new();
    out.push_str("usage: ferricorn [OPTIONS] [APP_MODULE]\n\n");
    out.push_str("A pre-fork WSGI HTTP server with a Rust core; accepts Gunicorn's options.\n");
    out.push_str("Options marked (not supported yet) are recognised but refused unless left at their default.\n");

    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    lines.push((
        "-h, --help".into(),
        "Show this help message and exit.".into(),
    ));
    lines.push((
        "-v, --version".into(),
        "Show the program's version number and exit.".into(),
    ));
    sections.push(("General".into(), std::mem::take(&mut lines)));
    for section in Section::ALL {
        for s in SETTINGS
            .iter()
            .filter(|s| s.section == section && !s.flags.is_empty())
        {
            let spelled: Vec<String> = s
                .flags
                .iter()
                .map(|f| {
                    if s.kind.takes_value() {
                        format!("{f} {}", s.meta)
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            let mut text = s.help.to_string();
            if let Some(default) = default_doc(s) {
                text.push_str(&format!(" [{default}]"));
            }
            if s.status == Status::NotYetImplemented {
                text.push_str(" (not supported yet)");
            }
            lines.push((spelled.join(", "), text));
        }
        if !lines.is_empty() {
            sections.push((section.title().to_string(), std::mem::take(&mut lines)));
        }
    }
    let width = 34;
    for (title, entries) in sections {
        out.push_str(&format!("\n{title}:\n"));
        for (flags, text) in entries {
            let left = format!("  {flags}");
            if left.len() + 2 <= width {
                out.push_str(&format!("{left:<width$}{text}\n"));
            } else {
                out.push_str(&format!("{left}  {text}\n"));
            }
        }
    }
    out.push_str(
        "\nServer hooks (on_starting, post_fork, ...) can only be set in a config file.\n",
    );
    out
}

/// The default as `--help` and the docs show it; `None` for bare switches
/// whose default is simply "off".
pub fn default_doc(s: &Setting) -> Option<String> {
    use super::table::DefaultValue as D;
    let base = match s.default {
        D::Bool(false) if s.kind == Kind::Flag => return None,
        D::Bool(b) => (if b { "True" } else { "False" }).to_string(),
        D::None => "None".to_string(),
        D::Int(n) => n.to_string(),
        D::Str("") => "''".to_string(),
        D::Str(v) => v.to_string(),
        D::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| py_repr(i))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        D::Dict(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        D::Dynamic(doc) => doc.to_string(),
        D::Hook => "no-op".to_string(),
    };
    Some(match s.env {
        Some("PORT") => format!("{base}, or ['0.0.0.0:$PORT'] if PORT is set"),
        Some("SENDFILE") => {
            "sendfile on, unless $SENDFILE is set to other than y/1/yes/true".to_string()
        }
        Some(var) => format!("${var}, else {base}"),
        None => base,
    })
}
