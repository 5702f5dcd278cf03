//! Values and validation: Gunicorn's `validate_*` functions, ported.
//!
//! This file owns the rules a value must pass, whatever its source (argv,
//! `GUNICORN_CMD_ARGS`, an environment fallback or, later, a config file).
//! It must never know where a value came from or how to word the final
//! error: validators return a bare [`Problem`] and the caller (`mod.rs`)
//! prefixes it with the flag, variable or setting name. The only outside
//! state it may consult is the "does this path exist" probe it is handed,
//! for `--chdir`, as Gunicorn checks that at configuration time too.

use std::fmt;
use std::path::PathBuf;

use super::table::{DefaultValue, Kind, Setting};
use super::{BindAddr, HeaderMap, LogLevel, WorkerClass};

/// A value as supplied, before validation. CLI values arrive as `Str`
/// (or `Int` once argparse's `type=int` has converted them); a config file
/// executed by Python will hand over typed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    None,
    Bool(bool),
    /// Wide enough for any value a user can plausibly type, so that range
    /// errors are ours rather than overflow errors.
    Int(i128),
    Str(String),
    List(Vec<String>),
    Dict(Vec<(String, String)>),
    /// A Python callable or class, by qualified name (hooks, worker class).
    Object(String),
}

/// A validated value, as stored per setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    None,
    Bool(bool),
    Int(u64),
    Str(String),
    List(Vec<String>),
    Dict(Vec<(String, String)>),
    Object(String),
    Binds(Vec<BindAddr>),
    Env(Vec<(String, String)>),
    Level(LogLevel),
    Worker(WorkerClass),
    HeaderMap(HeaderMap),
}

impl fmt::Display for Value {
    /// Python-like rendering, as `--print-config` shows values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            quote: bool,
        ) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if quote {
                    f.write_str(&py_repr(&item.to_string()))?;
                } else {
                    write!(f, "{item}")?;
                }
            }
            f.write_str("]")
        }
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(s),
            Value::List(items) => list(f, items, true),
            Value::Binds(items) => list(f, items, true),
            Value::Env(pairs) => {
                let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                list(f, &items, true)
            }
            Value::Dict(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", py_repr(k), py_repr(v))?;
                }
                f.write_str("}")
            }
            Value::Object(name) => write!(f, "<{name}()>"),
            Value::Level(l) => f.write_str(l.as_str()),
            Value::Worker(w) => f.write_str(w.as_str()),
            Value::HeaderMap(h) => f.write_str(h.as_str()),
        }
    }
}

/// What is wrong with a value, without saying where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem(pub String);

impl Problem {
    fn new(msg: impl Into<String>) -> Self {
        Problem(msg.into())
    }
}

/// Python's `repr()` of a str, which is what argparse puts in its errors.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `int(s)` (base 10), which argparse's `type=int` uses: surrounding
/// whitespace, a sign and single underscores between digits are accepted.
pub fn py_int_base10(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = split_sign(t);
    parse_digits(digits, 10).map(|v| if neg { -v } else { v })
}

/// Python's `int(s, 0)`, which config-file strings go through
/// (`validate_pos_int`): `0x`/`0o`/`0b` prefixes, and no leading zeros on
/// decimal numbers other than zero itself.
pub fn py_int_base0(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, body) = split_sign(t);
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else {
        (10, lower.as_str())
    };
    // After a base prefix Python allows one underscore before the digits.
    let digits = if radix != 10 {
        digits.strip_prefix('_').unwrap_or(digits)
    } else {
        digits
    };
    if radix == 10 && digits.starts_with('0') && digits.chars().any(|c| c != '0' && c != '_') {
        return None;
    }
    parse_digits(digits, radix).map(|v| if neg { -v } else { v })
}

/// Gunicorn's `auto_int` for `--umask`: a bare leading zero means octal.
pub fn py_auto_int(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'0' && b[1].is_ascii_digit() {
        py_int_base0(&format!("0o{}", &s[1..]))
    } else {
        py_int_base0(s)
    }
}

fn split_sign(t: &str) -> (bool, &str) {
    if let Some(rest) = t.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = t.strip_prefix('+') {
        (false, rest)
    } else {
        (false, t)
    }
}

fn parse_digits(digits: &str, radix: u32) -> Option<i128> {
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix)?;
        v = v.checked_mul(radix as i128)?.checked_add(d as i128)?;
    }
    Some(v)
}

/// The generic validator for a kind (Gunicorn's `validate_*` chosen by the
/// setting class), before any setting-specific rule.
pub fn validate_kind(kind: Kind, input: Input) -> Result<Value, Problem> {
    match kind {
        Kind::Int | Kind::OctalInt => {
            let n = match input {
                Input::Int(n) => n,
                Input::Bool(b) => b as i128,
                Input::Str(ref s) => py_int_base0(s)
                    .ok_or_else(|| Problem::new(format!("invalid int value: {}", py_repr(s))))?,
                other => {
                    return Err(Problem::new(format!(
                        "not an integer: {}",
                        describe_input(&other)
                    )))
                }
            };
            if n < 0 {
                return Err(Problem::new(format!("value must be positive: {n}")));
            }
            u64::try_from(n)
                .map(Value::Int)
                .map_err(|_| Problem::new(format!("value is too large: {n}")))
        }
        Kind::Flag | Kind::FlagFalse => match input {
            Input::None => Ok(Value::None),
            Input::Bool(b) => Ok(Value::Bool(b)),
            Input::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(Problem::new(format!("invalid boolean: {}", py_repr(&s)))),
            },
            other => Err(Problem::new(format!(
                "invalid type for a boolean: {}",
                describe_input(&other)
            ))),
        },
        Kind::Str => match input {
            Input::None => Ok(Value::None),
            Input::Str(s) => Ok(Value::Str(s.trim().to_string())),
            other => Err(Problem::new(format!(
                "not a string: {}",
                describe_input(&other)
            ))),
        },
        Kind::Class => match input {
            Input::None => Ok(Value::None),
            Input::Str(s) => Ok(Value::Str(s.trim().to_string())),
            Input::Object(name) => Ok(Value::Object(name)),
            other => Err(Problem::new(format!(
                "not a class or a string: {}",
                describe_input(&other)
            ))),
        },
        Kind::List => match input {
            Input::None => Ok(Value::List(Vec::new())),
            // Gunicorn's "legacy syntax": a lone string is a one-item list.
            Input::Str(s) if s.is_empty() => Ok(Value::List(Vec::new())),
            Input::Str(s) => Ok(Value::List(vec![s.trim().to_string()])),
            Input::List(items) => Ok(Value::List(
                items.iter().map(|s| s.trim().to_string()).collect(),
            )),
            other => Err(Problem::new(format!(
                "not a list of strings: {}",
                describe_input(&other)
            ))),
        },
        Kind::CommaList => match input {
            Input::None => Ok(Value::List(Vec::new())),
            Input::Str(s) => Ok(Value::List(split_commas(&s))),
            other => Err(Problem::new(format!(
                "not a string: {}",
                describe_input(&other)
            ))),
        },
        Kind::Dict => match input {
            Input::Dict(pairs) => Ok(Value::Dict(pairs)),
            other => Err(Problem::new(format!(
                "value is not a dictionary: {}",
                describe_input(&other)
            ))),
        },
        Kind::Hook(_) => match input {
            Input::Object(name) => Ok(Value::Object(name)),
            // A dotted path to import; resolving it needs Python, later.
            Input::Str(s) => Ok(Value::Object(s.trim().to_string())),
            other => Err(Problem::new(format!(
                "value is not callable: {}",
                describe_input(&other)
            ))),
        },
    }
}

fn describe_input(input: &Input) -> String {
    match input {
        Input::None => "None".into(),
        Input::Bool(b) => (if *b { "True" } else { "False" }).into(),
        Input::Int(n) => n.to_string(),
        Input::Str(s) => py_repr(s),
        Input::List(items) => format!("{items:?}"),
        Input::Dict(pairs) => format!("{pairs:?}"),
        Input::Object(name) => format!("<{name}>"),
    }
}

/// `validate_string_to_list`: trimmed, empty items dropped.
fn split_commas(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// Setting-specific rules, applied after [`validate_kind`]. Also converts
/// the generic value into the typed one `Config` is built from.
pub fn refine(
    setting: &Setting,
    value: Value,
    path_exists: &dyn Fn(&std::path::Path) -> bool,
) -> Result<Value, Problem> {
    match (setting.name, value) {
        ("bind", Value::List(items)) => items
            .iter()
            .map(|s| parse_bind(s))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Binds),
        // 0 workers would leave the master serving nothing (Gunicorn accepts it).
        ("workers", Value::Int(0)) => Err(Problem::new("value must be at least 1: 0")),
        ("backlog", Value::Int(n)) if n > i32::MAX as u64 => Err(Problem::new(format!(
            "value is too large: {n} (maximum {})",
            i32::MAX
        ))),
        ("threads" | "workers", Value::Int(n)) if n > u32::MAX as u64 => {
            Err(Problem::new(format!("value is too large: {n}")))
        }
        ("worker_class", Value::Str(s)) => WorkerClass::parse(&s).map(Value::Worker),
        ("worker_class", Value::Object(name)) => WorkerClass::parse(&name).map(Value::Worker),
        ("raw_env", Value::List(items)) => items
            .iter()
            .map(|s| parse_env(s))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Env),
        ("loglevel", Value::Str(s)) => LogLevel::parse(&s).map(Value::Level),
        ("header_map", Value::Str(s)) => HeaderMap::parse(&s).map(Value::HeaderMap),
        ("chdir", Value::Str(s)) => {
            if s.is_empty() || !path_exists(std::path::Path::new(&s)) {
                Err(Problem::new(format!("can't chdir to {}", py_repr(&s))))
            } else {
                Ok(Value::Str(s))
            }
        }
        ("forwarded_allow_ips" | "proxy_allow_ips", Value::List(items)) => {
            for item in &items {
                // An address or a network in CIDR form (Gunicorn 24.1+), or "*".
                let valid = item == "*"
                    || match item.split_once('/') {
                        None => item.parse::<std::net::IpAddr>().is_ok(),
                        Some((ip, prefix)) => {
                            match (ip.parse::<std::net::IpAddr>(), prefix.parse::<u8>()) {
                                (Ok(ip), Ok(p)) => p <= if ip.is_ipv4() { 32 } else { 128 },
                                _ => false,
                            }
                        }
                    };
                if !valid {
                    return Err(Problem::new(format!(
                        "invalid IP address: {}",
                        py_repr(item)
                    )));
                }
            }
            Ok(Value::List(items))
        }
        // Gunicorn fails opening "" as a log file; say so up front.
        ("accesslog" | "errorlog", Value::Str(s)) if s.is_empty() => {
            Err(Problem::new("empty file name"))
        }
        ("reload_engine", Value::Str(s)) => match s.as_str() {
            "auto" | "poll" | "inotify" => Ok(Value::Str(s)),
            _ => Err(choice_problem(&s, &["auto", "poll", "inotify"])),
        },
        (_, value) => Ok(value),
    }
}

/// argparse's wording for a value outside a fixed set.
pub fn choice_problem(value: &str, choices: &[&str]) -> Problem {
    let list: Vec<String> = choices.iter().map(|c| py_repr(c)).collect();
    Problem::new(format!(
        "invalid choice: {} (choose from {})",
        py_repr(value),
        list.join(", ")
    ))
}

/// The value a setting starts with, before any environment fallback.
pub fn default_input(setting: &Setting) -> Input {
    match setting.default {
        DefaultValue::None | DefaultValue::Dynamic(_) => Input::None,
        DefaultValue::Bool(b) => Input::Bool(b),
        DefaultValue::Int(n) => Input::Int(n as i128),
        DefaultValue::Str(s) => Input::Str(s.to_string()),
        DefaultValue::List(items) => Input::List(items.iter().map(|s| s.to_string()).collect()),
        DefaultValue::Dict(pairs) => Input::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        DefaultValue::Hook => Input::Object(setting.name.to_string()),
    }
}

/// `-e KEY=VALUE`. Gunicorn splits on the first `=` and fails at start-up
/// without one; we fail while parsing, with the flag named.
fn parse_env(s: &str) -> Result<(String, String), Problem> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains('\0') && !v.contains('\0') => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(Problem::new(format!(
            "environment setting {} invalid (expected KEY=VALUE)",
            py_repr(s)
        ))),
    }
}

/// Gunicorn's `util.parse_address` with default port 8000, a little stricter:
/// trailing junk Gunicorn silently drops (`h:1:2`, `[::1]x`) is an error.
pub fn parse_bind(raw: &str) -> Result<BindAddr, Problem> {
    let bad = |why: String| Problem::new(format!("invalid address {}: {why}", py_repr(raw)));
    let s = raw.trim();
    if let Some(rest) = s.strip_prefix("unix:") {
        // Gunicorn accepts both `unix:PATH` and `unix://PATH`.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(bad("empty unix socket path".into()));
        }
        return Ok(BindAddr::Unix(PathBuf::from(path)));
    }
    if let Some(fd) = s.strip_prefix("fd://") {
        return match py_int_base10(fd) {
            Some(n) if (0..=i32::MAX as i128).contains(&n) => Ok(BindAddr::Fd(n as i32)),
            _ => Err(bad(format!(
                "{} is not a valid file descriptor",
                py_repr(fd)
            ))),
        };
    }
    let s = s.strip_prefix("tcp://").unwrap_or(s);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("missing ']'".into()))?;
        // Hex digits, colons, dots (v4-mapped) and a %zone suffix.
        let v6_chars = |c: char| c.is_ascii_alphanumeric() || ":.%_-".contains(c);
        if !host.contains(':') || !host.chars().all(v6_chars) {
            return Err(bad(format!("{} is not an IPv6 address", py_repr(host))));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("expected ':PORT' after ']'".into()))?,
            ),
        };
        (host.to_string(), port)
    } else if s.matches(':').count() > 1 {
        return Err(bad(
            "IPv6 addresses must be written in brackets, e.g. [::1]:8000".into(),
        ));
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad(format!("{} is not a valid host", py_repr(&host))));
    }
    let port = match port {
        None => 8000,
        Some(p) => match py_int_base10(p) {
            Some(n) if (0..=65535).contains(&n) => n as u16,
            _ => return Err(bad(format!("{} is not a valid port number", py_repr(p)))),
        },
    };
    // Python binds "" to every interface; say so explicitly for Rust's resolver.
    let host = if host.is_empty() {
        "0.0.0.0".to_string()
    } else {
        host.to_ascii_lowercase()
    };
    Ok(BindAddr::Tcp { host, port })
}
