//! Unit tests for the configuration module: every flag form, defaults,
//! environment fallbacks and precedence, exact error wording, bind parsing,
//! refusal of not-yet-implemented settings, and the generated docs.

use std::collections::HashSet;
use std::path::Path;

use super::*;

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Directories the fake filesystem has; nothing else exists.
fn fake_fs(p: &Path) -> bool {
    matches!(p.to_str(), Some("/srv/app" | "." | "/"))
}

fn run_env(a: &[&str], env: &[(&str, &str)]) -> Result<Command, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    parse_with(&strings(a), &lookup, &fake_fs)
}

fn cfg_env(a: &[&str], env: &[(&str, &str)]) -> Config {
    match run_env(a, env) {
        Ok(Command::Run(c)) => c,
        other => panic!("expected a config for {a:?}, got {other:?}"),
    }
}

fn cfg(a: &[&str]) -> Config {
    cfg_env(a, &[])
}

fn err_env(a: &[&str], env: &[(&str, &str)]) -> String {
    match run_env(a, env) {
        Err(e) => e.0,
        other => panic!("expected an error for {a:?}, got {other:?}"),
    }
}

fn err(a: &[&str]) -> String {
    err_env(a, &[])
}

fn tcp(host: &str, port: u16) -> BindAddr {
    BindAddr::Tcp {
        host: host.into(),
        port,
    }
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_match_gunicorn() {
    let c = cfg(&[]);
    assert_eq!(c.app_uri, None);
    assert_eq!(c.bind, vec![tcp("127.0.0.1", 8000)]);
    assert_eq!(c.workers, 1);
    assert_eq!(c.worker_class, WorkerClass::Sync);
    assert_eq!(c.threads, 1);
    assert_eq!(c.worker_connections, 1000);
    assert_eq!(c.limit_request_body, 0);
    assert_eq!(c.backlog, 2048);
    assert_eq!(c.keepalive, 2);
    assert_eq!(c.timeout, 30);
    assert_eq!(c.graceful_timeout, 30);
    assert_eq!(c.limit_request_line, 4094);
    assert_eq!(c.limit_request_fields, 100);
    assert_eq!(c.limit_request_field_size, 8190);
    assert_eq!(c.chdir, None);
    assert!(c.pythonpath.is_empty());
    assert!(c.raw_env.is_empty());
    assert_eq!(c.accesslog, None);
    assert_eq!(
        c.access_log_format,
        r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#
    );
    assert_eq!(c.errorlog, "-");
    assert_eq!(c.loglevel, LogLevel::Info);
    assert_eq!(c.proc_name, None);
    assert_eq!((c.max_requests, c.max_requests_jitter), (0, 0));
    assert_eq!(
        (c.body_buffer_size, c.header_timeout, c.body_timeout),
        (65536, 10, 30)
    );
    assert!(!c.permit_obsolete_folding && !c.casefold_http_method);
    assert!(!c.permit_unconventional_http_method && !c.tolerate_dangerous_framing);
    assert_eq!(c.header_map, HeaderMap::Drop);
    assert_eq!(c.forwarded_allow_ips, vec!["127.0.0.1", "::1"]);
    assert_eq!(c.forwarder_headers, vec!["SCRIPT_NAME", "PATH_INFO"]);
    assert_eq!(
        c.secure_scheme_headers,
        vec![
            ("X-FORWARDED-PROTOCOL".to_string(), "ssl".to_string()),
            ("X-FORWARDED-PROTO".to_string(), "https".to_string()),
            ("X-FORWARDED-SSL".to_string(), "on".to_string()),
        ]
    );
    assert_eq!(c.proc_title_base(), "ferricorn");
}

#[test]
fn the_gunicorn_example_command_line() {
    let c = cfg(&["-w", "4", "-b", "0.0.0.0:8000", "myproject.wsgi"]);
    assert_eq!(c.workers, 4);
    assert_eq!(c.bind, vec![tcp("0.0.0.0", 8000)]);
    assert_eq!(c.app_uri.as_deref(), Some("myproject.wsgi"));
    assert_eq!(c.proc_title_base(), "myproject.wsgi");
}

// ---------------------------------------------------------------- flag forms

#[test]
fn every_value_form_is_accepted() {
    for form in [
        &["-w", "4"][..],
        &["-w4"],
        &["-w=4"],
        &["--workers", "4"],
        &["--workers=4"],
        &["--workers", " 4 "],
        &["--workers", "+4"],
        &["--workers", "0_4"],
    ] {
        assert_eq!(cfg(form).workers, 4, "{form:?}");
    }
}

#[test]
fn unambiguous_prefixes_are_accepted_as_argparse_does() {
    assert_eq!(cfg(&["--grace", "7"]).graceful_timeout, 7);
    assert_eq!(cfg(&["--keep=9"]).keepalive, 9);
    assert_eq!(cfg(&["--log-l", "debug"]).loglevel, LogLevel::Debug);
    // An exact match wins over longer options that share the prefix.
    assert_eq!(cfg(&["--max-requests", "5"]).max_requests, 5);
}

#[test]
fn ambiguous_prefix_is_an_error() {
    assert_eq!(
        err(&["--he"]),
        "ferricorn: error: ambiguous option: --he could match --help, --header-map, --header-timeout"
    );
    assert_eq!(
        err(&["--max-req", "5"]),
        "ferricorn: error: ambiguous option: --max-req could match --max-requests, --max-requests-jitter"
    );
}

#[test]
fn last_value_wins_for_single_valued_flags() {
    assert_eq!(cfg(&["-w", "2", "--workers", "5"]).workers, 5);
    // Only the final value is validated, as in Gunicorn.
    assert_eq!(
        cfg(&["--log-level", "bogus", "--log-level", "error"]).loglevel,
        LogLevel::Error
    );
}

#[test]
fn app_module_may_come_anywhere() {
    assert_eq!(
        cfg(&["app:app", "-w", "3"]).app_uri.as_deref(),
        Some("app:app")
    );
    assert_eq!(
        cfg(&["-w", "3", "app:app"]).app_uri.as_deref(),
        Some("app:app")
    );
    assert_eq!(
        cfg(&["-w", "3", "app:create_app()", "-t", "5"])
            .app_uri
            .as_deref(),
        Some("app:create_app()")
    );
}

#[test]
fn double_dash_ends_options() {
    let c = cfg(&["-w", "2", "--", "--weird"]);
    assert_eq!(c.workers, 2);
    assert_eq!(c.app_uri.as_deref(), Some("--weird"));
}

#[test]
fn second_positional_is_unrecognized() {
    assert_eq!(
        err(&["a:app", "b:app"]),
        "ferricorn: error: unrecognized argument: b:app"
    );
}

#[test]
fn dash_and_negative_numbers_are_values() {
    assert_eq!(
        cfg(&["--access-logfile", "-"]).accesslog.as_deref(),
        Some("-")
    );
    assert_eq!(
        err(&["-w", "-1"]),
        "ferricorn: error: argument -w/--workers: value must be positive: -1"
    );
}

#[test]
fn values_with_spaces_that_start_with_a_dash_are_values() {
    let c = cfg(&["--access-logformat", "-%(h)s %(r)s"]);
    assert_eq!(c.access_log_format, "-%(h)s %(r)s");
}

#[test]
fn every_implemented_int_flag_parses() {
    let c = cfg(&[
        "--threads",
        "3",
        "--backlog",
        "64",
        "--keep-alive",
        "5",
        "-t",
        "60",
        "--graceful-timeout",
        "10",
        "--limit-request-line",
        "100",
        "--limit-request-fields",
        "50",
        "--limit-request-field_size",
        "200",
        "--max-requests",
        "1000",
        "--max-requests-jitter",
        "50",
        "--body-buffer-size",
        "1024",
        "--header-timeout",
        "3",
        "--body-timeout",
        "4",
    ]);
    assert_eq!(c.threads, 3);
    assert_eq!(c.backlog, 64);
    assert_eq!((c.keepalive, c.timeout, c.graceful_timeout), (5, 60, 10));
    assert_eq!(
        (
            c.limit_request_line,
            c.limit_request_fields,
            c.limit_request_field_size
        ),
        (100, 50, 200)
    );
    assert_eq!((c.max_requests, c.max_requests_jitter), (1000, 50));
    assert_eq!(
        (c.body_buffer_size, c.header_timeout, c.body_timeout),
        (1024, 3, 4)
    );
    assert_eq!(cfg(&["--timeout", "0"]).timeout, 0);
}

#[test]
fn string_and_list_flags_parse() {
    let c = cfg(&[
        "--chdir",
        "/srv/app",
        "--pythonpath",
        "/a, /b,,",
        "-e",
        "A=1",
        "--env",
        "B=x=y",
        "-e",
        "C=",
        "--access-logfile",
        "/var/log/a.log",
        "--error-logfile",
        "/var/log/e.log",
        "-n",
        "shop",
        "--access-logformat",
        "%(h)s",
    ]);
    assert_eq!(c.chdir.as_deref(), Some(Path::new("/srv/app")));
    assert_eq!(c.pythonpath, vec!["/a", "/b"]);
    assert_eq!(
        c.raw_env,
        vec![
            ("A".into(), "1".into()),
            ("B".into(), "x=y".into()),
            ("C".into(), String::new())
        ]
    );
    assert_eq!(c.accesslog.as_deref(), Some("/var/log/a.log"));
    assert_eq!(c.errorlog, "/var/log/e.log");
    assert_eq!(c.proc_name.as_deref(), Some("shop"));
    assert_eq!(c.proc_title_base(), "shop");
    assert_eq!(c.access_log_format, "%(h)s");
    assert_eq!(cfg(&["--log-file", "x.log"]).errorlog, "x.log");
}

#[test]
fn log_levels() {
    for (s, l) in [
        ("debug", LogLevel::Debug),
        ("INFO", LogLevel::Info),
        ("Warning", LogLevel::Warning),
        ("error", LogLevel::Error),
        ("critical", LogLevel::Critical),
    ] {
        assert_eq!(cfg(&["--log-level", s]).loglevel, l);
    }
    assert!(LogLevel::Debug < LogLevel::Critical);
    assert_eq!(
        err(&["--log-level", "warn"]),
        "ferricorn: error: argument --log-level: invalid choice: 'warn' (choose from 'debug', 'info', 'warning', 'error', 'critical')"
    );
}

#[test]
fn http_parser_switches() {
    let c = cfg(&[
        "--permit-obsolete-folding",
        "--casefold-http-method",
        "--permit-unconventional-http-method",
        "--tolerate-dangerous-framing",
        "--header-map",
        "refuse",
    ]);
    assert!(c.permit_obsolete_folding && c.casefold_http_method);
    assert!(c.permit_unconventional_http_method && c.tolerate_dangerous_framing);
    assert_eq!(c.header_map, HeaderMap::Refuse);
    assert_eq!(
        cfg(&["--header-map=DANGEROUS"]).header_map,
        HeaderMap::Dangerous
    );
    assert_eq!(cfg(&["--header-map", "drop"]).header_map, HeaderMap::Drop);
    assert_eq!(
        err(&["--header-map", "keep"]),
        "ferricorn: error: argument --header-map: invalid choice: 'keep' (choose from 'drop', 'refuse', 'dangerous')"
    );
    assert_eq!(
        err(&["--casefold-http-method=yes"]),
        "ferricorn: error: argument --casefold-http-method: ignored explicit argument 'yes'"
    );
}

// ---------------------------------------------------------------- worker class

#[test]
fn worker_classes() {
    for k in [
        "sync",
        "gunicorn.workers.sync.SyncWorker",
        "egg:gunicorn#sync",
    ] {
        assert_eq!(cfg(&["-k", k]).worker_class, WorkerClass::Sync, "{k}");
    }
    for k in ["gthread", "gunicorn.workers.gthread.ThreadWorker"] {
        assert_eq!(
            cfg(&["--worker-class", k]).worker_class,
            WorkerClass::Gthread,
            "{k}"
        );
    }
    for k in [
        "gevent",
        "eventlet",
        "tornado",
        "uvicorn.workers.UvicornWorker",
        "gevent_wsgi",
    ] {
        assert_eq!(
            err(&["-k", k]),
            format!(
                "ferricorn: error: argument -k/--worker-class: worker class '{k}' is not supported (ferricorn provides 'sync' and 'gthread')"
            )
        );
    }
}

#[test]
fn threads_above_one_turn_sync_into_gthread() {
    let c = cfg(&["--threads", "4"]);
    assert_eq!((c.worker_class, c.threads), (WorkerClass::Gthread, 4));
    let c = cfg(&["-k", "gthread"]);
    assert_eq!((c.worker_class, c.threads), (WorkerClass::Gthread, 1));
    // sync never reads threads, so 0 is harmless there...
    assert_eq!(cfg(&["--threads", "0"]).threads, 1);
    // ...but gthread cannot run without a thread.
    assert_eq!(
        err(&["-k", "gthread", "--threads", "0"]),
        "ferricorn: error: argument --threads: value must be at least 1 for the gthread worker: 0"
    );
}

// ---------------------------------------------------------------- limits

#[test]
fn request_limits_follow_gunicorns_caps() {
    assert_eq!(cfg(&["--limit-request-line", "0"]).limit_request_line, 0);
    assert_eq!(
        cfg(&["--limit-request-line", "8190"]).limit_request_line,
        8190
    );
    assert_eq!(
        cfg(&["--limit-request-line", "20000"]).limit_request_line,
        MAX_REQUEST_LINE
    );
    assert_eq!(
        cfg(&["--limit-request-fields", "0"]).limit_request_fields,
        MAX_HEADERS
    );
    assert_eq!(
        cfg(&["--limit-request-fields", "40000"]).limit_request_fields,
        MAX_HEADERS
    );
    assert_eq!(
        cfg(&["--limit-request-fields", "32768"]).limit_request_fields,
        32768
    );
    assert_eq!(
        cfg(&["--limit-request-field_size", "0"]).limit_request_field_size,
        0
    );
    assert_eq!(
        cfg(&["--limit-request-field_size", "100000"]).limit_request_field_size,
        100000
    );
}

// ---------------------------------------------------------------- bind

#[test]
fn bind_forms() {
    let b = |s: &str| cfg(&["-b", s]).bind;
    assert_eq!(b("0.0.0.0:80"), vec![tcp("0.0.0.0", 80)]);
    assert_eq!(b("localhost"), vec![tcp("localhost", 8000)]);
    assert_eq!(b("Example.COM:9000"), vec![tcp("example.com", 9000)]);
    assert_eq!(b("[::1]:8080"), vec![tcp("::1", 8080)]);
    assert_eq!(b("[::1]"), vec![tcp("::1", 8000)]);
    assert_eq!(b("[::]:80"), vec![tcp("::", 80)]);
    assert_eq!(b("[fe80::1%eth0]:80"), vec![tcp("fe80::1%eth0", 80)]);
    assert_eq!(b("tcp://127.0.0.1:81"), vec![tcp("127.0.0.1", 81)]);
    assert_eq!(b(":8001"), vec![tcp("0.0.0.0", 8001)]);
    assert_eq!(b(""), vec![tcp("0.0.0.0", 8000)]);
    assert_eq!(b("127.0.0.1:0"), vec![tcp("127.0.0.1", 0)]);
    assert_eq!(
        b("unix:/tmp/app.sock"),
        vec![BindAddr::Unix("/tmp/app.sock".into())]
    );
    assert_eq!(
        b("unix:///tmp/app.sock"),
        vec![BindAddr::Unix("/tmp/app.sock".into())]
    );
    assert_eq!(
        b("unix:relative.sock"),
        vec![BindAddr::Unix("relative.sock".into())]
    );
    assert_eq!(b("fd://3"), vec![BindAddr::Fd(3)]);
}

#[test]
fn bind_is_repeatable_and_keeps_order() {
    let c = cfg(&[
        "-b",
        "127.0.0.1:8000",
        "--bind",
        "[::1]:8000",
        "-bunix:/run/a.sock",
        "--bind=fd://5",
    ]);
    assert_eq!(
        c.bind,
        vec![
            tcp("127.0.0.1", 8000),
            tcp("::1", 8000),
            BindAddr::Unix("/run/a.sock".into()),
            BindAddr::Fd(5)
        ]
    );
}

#[test]
fn bad_bind_addresses() {
    let cases = [
        ("127.0.0.1:http", "argument -b/--bind: invalid address '127.0.0.1:http': 'http' is not a valid port number"),
        ("127.0.0.1:65536", "argument -b/--bind: invalid address '127.0.0.1:65536': '65536' is not a valid port number"),
        ("127.0.0.1:", "argument -b/--bind: invalid address '127.0.0.1:': '' is not a valid port number"),
        ("::1", "argument -b/--bind: invalid address '::1': IPv6 addresses must be written in brackets, e.g. [::1]:8000"),
        ("[::1", "argument -b/--bind: invalid address '[::1': missing ']'"),
        ("[::1]x", "argument -b/--bind: invalid address '[::1]x': expected ':PORT' after ']'"),
        ("[nothost]:80", "argument -b/--bind: invalid address '[nothost]:80': 'nothost' is not an IPv6 address"),
        ("fd://x", "argument -b/--bind: invalid address 'fd://x': 'x' is not a valid file descriptor"),
        ("fd://-1", "argument -b/--bind: invalid address 'fd://-1': '-1' is not a valid file descriptor"),
        ("unix:", "argument -b/--bind: invalid address 'unix:': empty unix socket path"),
        ("a b:80", "argument -b/--bind: invalid address 'a b:80': 'a b' is not a valid host"),
    ];
    for (addr, msg) in cases {
        assert_eq!(
            err(&["-b", addr]),
            format!("ferricorn: error: {msg}"),
            "{addr}"
        );
    }
}

#[test]
fn bind_display_round_trips() {
    for a in [
        tcp("127.0.0.1", 80),
        tcp("::1", 8000),
        BindAddr::Unix("/tmp/s".into()),
        BindAddr::Fd(3),
    ] {
        assert_eq!(value::parse_bind(&a.to_string()), Ok(a.clone()));
    }
    assert_eq!(tcp("::1", 8000).to_string(), "[::1]:8000");
}

// ---------------------------------------------------------------- environment

#[test]
fn port_env_sets_the_default_bind() {
    assert_eq!(
        cfg_env(&[], &[("PORT", "5000")]).bind,
        vec![tcp("0.0.0.0", 5000)]
    );
    // Only when no -b is given, from any source.
    assert_eq!(
        cfg_env(&["-b", "unix:/s"], &[("PORT", "5000")]).bind,
        vec![BindAddr::Unix("/s".into())]
    );
    assert_eq!(
        cfg_env(
            &[],
            &[("PORT", "5000"), ("GUNICORN_CMD_ARGS", "-b 10.0.0.1")]
        )
        .bind,
        vec![tcp("10.0.0.1", 8000)]
    );
}

#[test]
fn bad_port_env_only_matters_when_used() {
    assert_eq!(
        err_env(&[], &[("PORT", "abc")]),
        "ferricorn: error: environment variable PORT: invalid address '0.0.0.0:abc': 'abc' is not a valid port number"
    );
    assert_eq!(
        cfg_env(&["-b", ":80"], &[("PORT", "abc")]).bind,
        vec![tcp("0.0.0.0", 80)]
    );
}

#[test]
fn web_concurrency_sets_the_default_workers() {
    assert_eq!(cfg_env(&[], &[("WEB_CONCURRENCY", "6")]).workers, 6);
    assert_eq!(
        cfg_env(&["-w", "2"], &[("WEB_CONCURRENCY", "6")]).workers,
        2
    );
    assert_eq!(
        err_env(&[], &[("WEB_CONCURRENCY", "lots")]),
        "ferricorn: error: environment variable WEB_CONCURRENCY: invalid int value: 'lots'"
    );
    assert_eq!(
        err_env(&[], &[("WEB_CONCURRENCY", "-2")]),
        "ferricorn: error: environment variable WEB_CONCURRENCY: value must be positive: -2"
    );
    assert_eq!(
        cfg_env(&["-w", "3"], &[("WEB_CONCURRENCY", "lots")]).workers,
        3
    );
}

#[test]
fn gunicorn_cmd_args_apply_below_argv() {
    let env = [(
        "GUNICORN_CMD_ARGS",
        "--workers=3 -t 90 --bind 127.0.0.1:1 --bind 127.0.0.1:2 --access-logfile '-'",
    )];
    let c = cfg_env(&["app:app"], &env);
    assert_eq!((c.workers, c.timeout), (3, 90));
    assert_eq!(c.bind, vec![tcp("127.0.0.1", 1), tcp("127.0.0.1", 2)]);
    assert_eq!(c.accesslog.as_deref(), Some("-"));
    // argv wins, and a -b on argv replaces the whole list rather than adding to it.
    let c = cfg_env(&["-w", "5", "-b", "127.0.0.1:3"], &env);
    assert_eq!((c.workers, c.timeout), (5, 90));
    assert_eq!(c.bind, vec![tcp("127.0.0.1", 3)]);
    // It also beats WEB_CONCURRENCY.
    assert_eq!(
        cfg_env(
            &[],
            &[("GUNICORN_CMD_ARGS", "-w 7"), ("WEB_CONCURRENCY", "2")]
        )
        .workers,
        7
    );
}

#[test]
fn ferricorn_cmd_args_beat_gunicorn_cmd_args() {
    let env = [
        ("GUNICORN_CMD_ARGS", "-w 2 -t 5"),
        ("FERRICORN_CMD_ARGS", "-w 4 --body-timeout 9"),
    ];
    let c = cfg_env(&[], &env);
    assert_eq!((c.workers, c.timeout, c.body_timeout), (4, 5, 9));
    assert_eq!(cfg_env(&["-w", "6"], &env).workers, 6);
}

#[test]
fn cmd_args_are_split_like_a_shell() {
    let c = cfg_env(
        &[],
        &[(
            "GUNICORN_CMD_ARGS",
            r#"--access-logformat "%(h)s \"%(r)s\"" -n 'my app'"#,
        )],
    );
    assert_eq!(c.access_log_format, r#"%(h)s "%(r)s""#);
    assert_eq!(c.proc_name.as_deref(), Some("my app"));
    assert_eq!(
        cli::shell_split(r#"a\ b "c\d" 'e\f' g""h '' "#),
        Ok(strings(&["a b", r"c\d", r"e\f", "gh", ""]))
    );
}

#[test]
fn cmd_args_errors_name_the_variable() {
    assert_eq!(
        err_env(&[], &[("GUNICORN_CMD_ARGS", "-w 'four")]),
        "ferricorn: error: GUNICORN_CMD_ARGS: No closing quotation"
    );
    assert_eq!(
        err_env(&[], &[("GUNICORN_CMD_ARGS", "-w four")]),
        "ferricorn: error: GUNICORN_CMD_ARGS: argument -w/--workers: invalid int value: 'four'"
    );
    assert_eq!(
        err_env(&[], &[("GUNICORN_CMD_ARGS", "--nope")]),
        "ferricorn: error: GUNICORN_CMD_ARGS: unrecognized argument: --nope"
    );
    assert_eq!(
        err_env(&[], &[("GUNICORN_CMD_ARGS", "--workers=0")]),
        "ferricorn: error: GUNICORN_CMD_ARGS: argument -w/--workers: value must be at least 1: 0"
    );
    assert_eq!(
        err_env(&[], &[("FERRICORN_CMD_ARGS", "app:app")]),
        "ferricorn: error: FERRICORN_CMD_ARGS: APP_MODULE cannot be given here, pass it on the command line: 'app:app'"
    );
    assert_eq!(
        err_env(&[], &[("GUNICORN_CMD_ARGS", "--paste=x.ini")]),
        "ferricorn: error: GUNICORN_CMD_ARGS: --paste/--paster (paste) is not supported yet"
    );
}

// ---------------------------------------------------------------- error wording

#[test]
fn argparse_error_messages() {
    let cases: &[(&[&str], &str)] = &[
        (&["--foo"], "unrecognized argument: --foo"),
        (
            &["--foo", "--bar=1"],
            "unrecognized arguments: --foo --bar=1",
        ),
        (&["-x"], "unrecognized argument: -x"),
        (&["-w"], "argument -w/--workers: expected one argument"),
        (
            &["--workers"],
            "argument -w/--workers: expected one argument",
        ),
        (
            &["-w", "--threads", "2"],
            "argument -w/--workers: expected one argument",
        ),
        (
            &["-w", "--", "2"],
            "argument -w/--workers: expected one argument",
        ),
        (
            &["-w", "x"],
            "argument -w/--workers: invalid int value: 'x'",
        ),
        (&["-wx"], "argument -w/--workers: invalid int value: 'x'"),
        (
            &["--workers="],
            "argument -w/--workers: invalid int value: ''",
        ),
        (
            &["-w", "0x10"],
            "argument -w/--workers: invalid int value: '0x10'",
        ),
        (
            &["-w", "2.5"],
            "argument -w/--workers: invalid int value: '2.5'",
        ),
        (
            &["-w", "0"],
            "argument -w/--workers: value must be at least 1: 0",
        ),
        (
            &["-t", "-5"],
            "argument -t/--timeout: value must be positive: -5",
        ),
        (
            &["--backlog", "3000000000"],
            "argument --backlog: value is too large: 3000000000 (maximum 2147483647)",
        ),
        (&["-b"], "argument -b/--bind: expected one argument"),
        (
            &["-e", "FOO"],
            "argument -e/--env: environment setting 'FOO' invalid (expected KEY=VALUE)",
        ),
        (
            &["-e", "=1"],
            "argument -e/--env: environment setting '=1' invalid (expected KEY=VALUE)",
        ),
        (
            &["--chdir", "/nope"],
            "argument --chdir: can't chdir to '/nope'",
        ),
        (
            &["--access-logfile", ""],
            "argument --access-logfile: empty file name",
        ),
        (
            &["--log-file="],
            "argument --error-logfile/--log-file: empty file name",
        ),
        (
            &["-Dx"],
            "argument -D/--daemon: ignored explicit argument 'x'",
        ),
    ];
    for (args, msg) in cases {
        assert_eq!(err(args), format!("ferricorn: error: {msg}"), "{args:?}");
    }
}

#[test]
fn errors_are_one_line() {
    for args in [
        &["--foo"][..],
        &["-w", "x"],
        &["-k", "gevent"],
        &["--paste", "h"],
    ] {
        assert!(!err(args).contains('\n'));
    }
}

#[test]
fn exit_code_is_argparse_usage_error() {
    assert_eq!(ConfigError::EXIT_CODE, 2);
}

// ---------------------------------------------------------------- not yet implemented

#[test]
fn not_yet_implemented_settings_are_refused() {
    assert_eq!(
        err(&["--paste", "x.ini"]),
        "ferricorn: error: --paste/--paster (paste) is not supported yet"
    );
    assert_eq!(
        err(&["--spew"]),
        "ferricorn: error: --spew (spew) is not supported yet"
    );
    let c = cfg(&["-DR"]);
    assert!(c.daemon && c.enable_stdio_inheritance);
    assert!(cfg(&["--preload"]).preload_app);
    assert_eq!(
        err(&["--no-sendfile"]),
        "ferricorn: error: --no-sendfile (sendfile) is not supported yet"
    );
    assert_eq!(
        cfg(&["--pid", "/run/x.pid"]).pidfile.as_deref(),
        Some("/run/x.pid")
    );
    let c = cfg(&[
        "-u",
        "www",
        "-g",
        "33",
        "--initgroups",
        "--worker-tmp-dir",
        "/dev/shm",
    ]);
    assert_eq!(c.user.as_deref(), Some("www"));
    assert_eq!(c.group.as_deref(), Some("33"));
    assert!(c.initgroups);
    assert_eq!(
        c.worker_tmp_dir.as_deref(),
        Some(std::path::Path::new("/dev/shm"))
    );
    let c = cfg(&[]);
    assert!(!c.daemon && c.user.is_none() && c.group.is_none() && c.worker_tmp_dir.is_none());
    assert_eq!(cfg(&["-m", "022"]).umask, 0o22);
    assert_eq!(
        err(&["--certfile", "c.pem"]),
        "ferricorn: error: --certfile (certfile) is not supported yet"
    );
    assert_eq!(
        err(&["--paster", "x.ini"]),
        "ferricorn: error: --paste/--paster (paste) is not supported yet"
    );
    assert_eq!(
        err(&["--spew"]),
        "ferricorn: error: --spew (spew) is not supported yet"
    );
    assert_eq!(
        cfg(&["--forwarded-allow-ips", "*"]).forwarded_allow_ips,
        vec!["*"]
    );
    assert_eq!(
        cfg(&["--forwarded-allow-ips", "10.0.0.0/8,::1"]).forwarded_allow_ips,
        vec!["10.0.0.0/8", "::1"]
    );
    match run_env(&["--print-config", "-w", "3"], &[]) {
        Ok(Command::PrintConfig(text, _)) => {
            assert!(
                text.lines()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["workers", "=", "3"]),
                "{text}"
            );
        }
        other => panic!("expected PrintConfig, got {other:?}"),
    }
    assert!(
        matches!(run_env(&["--check-config", "m:app"], &[]), Ok(Command::CheckConfig(c)) if c.app_uri.as_deref() == Some("m:app"))
    );
}

#[test]
fn not_yet_implemented_settings_at_their_default_are_accepted() {
    cfg(&["--worker-connections", "1000"]);
    cfg(&["--suppress-ragged-eofs"]); // store_true whose default is already True
    cfg(&["--forwarded-allow-ips", " 127.0.0.1 , ::1 "]);
    cfg(&["--reload-engine", "auto", "--log-syslog-facility", "user"]);
    cfg(&["--dogstatsd-tags", ""]);
    cfg(&["-m", "0"]);
}

#[test]
fn not_yet_implemented_values_are_still_validated() {
    assert_eq!(
        err(&["--worker-connections", "many"]),
        "ferricorn: error: argument --worker-connections: invalid int value: 'many'"
    );
    assert_eq!(
        err(&["--forwarded-allow-ips", "10.0.0.300"]),
        "ferricorn: error: argument --forwarded-allow-ips: invalid IP address: '10.0.0.300'"
    );
    assert_eq!(
        err(&["-m", "0x1G"]),
        "ferricorn: error: argument -m/--umask: invalid auto_int value: '0x1G'"
    );
}

fn with_file(
    args: &[&str],
    env: &[(&str, &str)],
    file: Vec<(&str, Input)>,
    implicit: bool,
) -> Result<Command, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let fs = move |p: &Path| implicit && p == Path::new("gunicorn.conf.py");
    let pairs: Vec<(String, Input)> = file.into_iter().map(|(n, i)| (n.to_string(), i)).collect();
    let loader = move |path: &str| {
        if path == "missing.py" {
            return Err(
                "cannot read config file 'missing.py': No such file or directory".to_string(),
            );
        }
        Ok(pairs.clone())
    };
    parse_full(&strings(args), &lookup, &fs, &loader)
}

fn file_cfg(
    args: &[&str],
    env: &[(&str, &str)],
    file: Vec<(&str, Input)>,
    implicit: bool,
) -> Config {
    match with_file(args, env, file, implicit) {
        Ok(Command::Run(c)) => c,
        other => panic!("expected a config, got {other:?}"),
    }
}

#[test]
fn config_file_settings_apply_with_gunicorn_precedence() {
    let file = || {
        vec![
            ("workers", Input::Int(3)),
            ("bind", Input::Str("127.0.0.1:9000".into())),
            ("timeout", Input::Int(90)),
            ("wsgi_app", Input::Str("proj.wsgi:application".into())),
            (
                "multiprocessing_helper",
                Input::Object("os.cpu_count".into()),
            ), // not a setting: ignored
        ]
    };
    let c = file_cfg(&["-c", "conf.py"], &[], file(), false);
    assert_eq!((c.workers, c.timeout), (3, 90));
    assert_eq!(
        c.bind,
        vec![BindAddr::Tcp {
            host: "127.0.0.1".into(),
            port: 9000
        }]
    );
    assert_eq!(c.app_uri.as_deref(), Some("proj.wsgi:application"));
    // file < GUNICORN_CMD_ARGS < argv; the positional beats wsgi_app
    let c = file_cfg(
        &["-c", "conf.py", "-w", "5", "other:app"],
        &[("GUNICORN_CMD_ARGS", "-t 10")],
        file(),
        false,
    );
    assert_eq!((c.workers, c.timeout), (5, 10));
    assert_eq!(c.app_uri.as_deref(), Some("other:app"));
    // ./gunicorn.conf.py is read when no -c is given, as in Gunicorn
    assert_eq!(file_cfg(&[], &[], file(), true).workers, 3);
    assert_eq!(file_cfg(&[], &[], file(), false).workers, 1);
}

#[test]
fn config_file_errors_are_one_line() {
    let bad_value = with_file(
        &["-c", "conf.py"],
        &[],
        vec![("workers", Input::Str("many".into()))],
        false,
    );
    assert!(
        matches!(&bad_value, Err(ConfigError(m)) if m.starts_with("ferricorn: error: ") && m.contains("workers") && !m.contains('\n')),
        "{bad_value:?}"
    );
    let hook = with_file(
        &["-c", "conf.py"],
        &[],
        vec![("post_fork", Input::Object("conf.post_fork".into()))],
        false,
    );
    assert!(
        hook.is_ok(),
        "hooks are accepted from a config file: {hook:?}"
    );
    let missing = with_file(&["-c", "missing.py"], &[], vec![], false);
    assert_eq!(
        missing,
        Err(ConfigError(
            "ferricorn: error: cannot read config file 'missing.py': No such file or directory"
                .into()
        ))
    );
}

#[test]
fn environment_defaults_of_unimplemented_settings() {
    assert_eq!(
        cfg_env(&[], &[("FORWARDED_ALLOW_IPS", "*")]).forwarded_allow_ips,
        vec!["*"]
    );
    assert_eq!(
        cfg_env(&[], &[("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")]).forwarded_allow_ips,
        vec!["127.0.0.1", "::1"]
    );
    assert_eq!(
        err_env(&[], &[("SENDFILE", "0")]),
        "ferricorn: error: environment variable SENDFILE (sendfile) is not supported yet"
    );
    cfg_env(&[], &[("SENDFILE", "yes")]);
}

// ---------------------------------------------------------------- help and version

#[test]
fn help_and_version() {
    for args in [
        &["-h"][..],
        &["--help"],
        &["--hel"],
        &["-w", "2", "-h"],
        &["--bogus", "-h"],
        &["-h", "-w", "x"],
    ] {
        match run_env(args, &[]) {
            Ok(Command::Help(text)) => {
                assert!(text.starts_with("usage: ferricorn [OPTIONS] [APP_MODULE]"))
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }
    for args in [&["-v"][..], &["--version"], &["app", "--vers"]] {
        assert_eq!(
            run_env(args, &[]),
            Ok(Command::Version(format!(
                "ferricorn (version {})",
                env!("CARGO_PKG_VERSION")
            ))),
            "{args:?}"
        );
    }
}

#[test]
fn help_lists_every_flag_on_one_line_per_setting() {
    let text = cli::help_text();
    for s in settings().iter().filter(|s| !s.flags.is_empty()) {
        let first_word = |l: &str| l.trim_start().split([' ', ',']).next().map(str::to_owned);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| first_word(l).as_deref() == Some(s.flags[0]))
            .collect();
        assert_eq!(lines.len(), 1, "{}: {lines:?}", s.name);
        for f in s.flags {
            assert!(lines[0].contains(f), "{f} missing from {:?}", lines[0]);
        }
        assert_eq!(
            lines[0].contains("(not supported yet)"),
            !s.is_implemented(),
            "{}",
            s.name
        );
    }
    for section in [
        "Server Socket:",
        "Worker Processes:",
        "Security:",
        "Logging:",
        "Ferricorn extensions:",
    ] {
        assert!(text.contains(section), "{section}");
    }
    assert!(text.contains("-w INT, --workers INT"));
    assert!(text.contains("--limit-request-field_size INT"));
}

// ---------------------------------------------------------------- the table

#[test]
fn table_has_gunicorn_23s_93_settings() {
    let gunicorn: Vec<&Setting> = settings()
        .iter()
        .filter(|s| s.origin == Origin::Gunicorn)
        .collect();
    assert_eq!(gunicorn.len(), 93);
    let hooks = settings()
        .iter()
        .filter(|s| matches!(s.kind, Kind::Hook(_)))
        .count();
    assert_eq!(hooks, 16);
    let ext: Vec<&str> = settings()
        .iter()
        .filter(|s| s.origin == Origin::Ferricorn)
        .map(|s| s.name)
        .collect();
    assert_eq!(
        ext,
        vec![
            "body_buffer_size",
            "header_timeout",
            "body_timeout",
            "write_timeout",
            "request_timeout",
            "max_worker_memory",
            "limit_request_body"
        ]
    );
}

#[test]
fn names_and_flags_are_unique_and_well_formed() {
    let mut names = HashSet::new();
    let mut flags: HashSet<&str> = ["-h", "--help", "-v", "--version"].into_iter().collect();
    for s in settings() {
        assert!(names.insert(s.name), "duplicate name {}", s.name);
        for f in s.flags {
            assert!(flags.insert(f), "duplicate flag {f}");
            assert!(
                f.starts_with("--") || (f.len() == 2 && f.starts_with('-')),
                "{f}"
            );
        }
        assert_eq!(
            s.section == Section::ServerHooks,
            matches!(s.kind, Kind::Hook(_)),
            "{}",
            s.name
        );
        if matches!(s.kind, Kind::Hook(_) | Kind::Dict) {
            assert!(s.flags.is_empty(), "{} should be config-file only", s.name);
        }
        if s.kind.takes_value() && !s.flags.is_empty() {
            assert!(!s.meta.is_empty(), "{} needs a metavar", s.name);
        }
        assert!(!s.help.is_empty() && !s.help.contains('\n'), "{}", s.name);
    }
}

#[test]
fn implemented_settings_are_the_expected_ones() {
    let implemented: Vec<&str> = settings()
        .iter()
        .filter(|s| s.is_implemented())
        .map(|s| s.name)
        .collect();
    let expected = [
        "config",
        "wsgi_app",
        "bind",
        "backlog",
        "workers",
        "worker_class",
        "threads",
        "worker_connections",
        "max_requests",
        "max_requests_jitter",
        "timeout",
        "graceful_timeout",
        "keepalive",
        "limit_request_line",
        "limit_request_fields",
        "limit_request_field_size",
        "reload",
        "reload_engine",
        "reload_extra_files",
        "check_config",
        "print_config",
        "preload_app",
        "reuse_port",
        "chdir",
        "daemon",
        "raw_env",
        "pidfile",
        "worker_tmp_dir",
        "user",
        "group",
        "umask",
        "initgroups",
        "secure_scheme_headers",
        "forwarded_allow_ips",
        "pythonpath",
        "proxy_protocol",
        "proxy_allow_ips",
        "permit_obsolete_folding",
        "permit_unconventional_http_method",
        "casefold_http_method",
        "header_map",
        "tolerate_dangerous_framing",
        "accesslog",
        "disable_redirect_access_to_syslog",
        "access_log_format",
        "errorlog",
        "loglevel",
        "capture_output",
        "logconfig",
        "logconfig_dict",
        "logconfig_json",
        "syslog_addr",
        "syslog",
        "syslog_prefix",
        "syslog_facility",
        "enable_stdio_inheritance",
        "statsd_host",
        "dogstatsd_tags",
        "statsd_prefix",
        "proc_name",
        "on_starting",
        "on_reload",
        "when_ready",
        "pre_fork",
        "post_fork",
        "post_worker_init",
        "worker_int",
        "worker_abort",
        "pre_exec",
        "pre_request",
        "post_request",
        "child_exit",
        "worker_exit",
        "nworkers_changed",
        "on_exit",
        "ssl_context",
        "body_buffer_size",
        "header_timeout",
        "body_timeout",
        "write_timeout",
        "request_timeout",
        "max_worker_memory",
        "limit_request_body",
    ];
    assert_eq!(implemented, expected);
}

// ---------------------------------------------------------------- by-name API (config file, later)

#[test]
fn set_by_name_uses_the_cli_rules_with_python_values() {
    let env = |_: &str| None;
    let mut b = Builder::new(&env, &fake_fs).expect("defaults");
    b.set("workers", Input::Str("0x10".into()), Source::ConfigFile)
        .expect("hex");
    b.set("bind", Input::Str("127.0.0.1:9".into()), Source::ConfigFile)
        .expect("legacy string bind");
    b.set(
        "raw_env",
        Input::List(vec!["A=1".into()]),
        Source::ConfigFile,
    )
    .expect("env");
    b.set(
        "permit_obsolete_folding",
        Input::Str("True".into()),
        Source::ConfigFile,
    )
    .expect("bool string");
    b.set(
        "casefold_http_method",
        Input::Bool(true),
        Source::ConfigFile,
    )
    .expect("bool");
    b.set("timeout", Input::Int(45), Source::ConfigFile)
        .expect("int");
    b.set(
        "worker_class",
        Input::Object("gunicorn.workers.gthread.ThreadWorker".into()),
        Source::ConfigFile,
    )
    .expect("class object");
    // Unimplemented settings at their default are fine from a file too.
    b.set(
        "on_starting",
        Input::Object("on_starting".into()),
        Source::ConfigFile,
    )
    .expect("default hook");
    let c = b.build().expect("config");
    assert_eq!((c.workers, c.timeout), (16, 45));
    assert_eq!(c.bind, vec![tcp("127.0.0.1", 9)]);
    assert_eq!(c.raw_env, vec![("A".into(), "1".into())]);
    assert!(c.permit_obsolete_folding && c.casefold_http_method);
    assert_eq!(c.worker_class, WorkerClass::Gthread);

    let mut b = Builder::new(&env, &fake_fs).expect("defaults");
    let e = |r: Result<(), ConfigError>| r.expect_err("should fail").0;
    assert_eq!(
        e(b.set("workers", Input::Str("010".into()), Source::ConfigFile)),
        "ferricorn: error: invalid value for workers: invalid int value: '010'"
    );
    assert_eq!(
        e(b.set("reload", Input::Str("maybe".into()), Source::ConfigFile)),
        "ferricorn: error: invalid value for reload: invalid boolean: 'maybe'"
    );
    assert_eq!(
        e(b.set("paste", Input::Str("h.ini".into()), Source::ConfigFile)),
        "ferricorn: error: config file setting paste is not supported yet"
    );
    b.set(
        "post_fork",
        Input::Object("my_post_fork".into()),
        Source::ConfigFile,
    )
    .expect("hooks are implemented");
    assert_eq!(
        e(b.set("bogus", Input::None, Source::ConfigFile)),
        "ferricorn: error: unknown setting: bogus"
    );
    assert_eq!(b.get("workers"), Some(&Value::Int(1)));
}

#[test]
fn print_config_lists_every_setting_sorted() {
    let env = |_: &str| None;
    let b = Builder::new(&env, &fake_fs).expect("defaults");
    let text = b.print_config();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), settings().len());
    assert!(text
        .lines()
        .any(|l| l.starts_with("bind ") && l.ends_with("= ['127.0.0.1:8000']")));
    assert!(text
        .lines()
        .any(|l| l.starts_with("workers ") && l.ends_with("= 1")));
    assert!(text
        .lines()
        .any(|l| l.starts_with("on_starting ") && l.ends_with("= <on_starting()>")));
}

// ---------------------------------------------------------------- helpers

#[test]
fn python_int_parsing() {
    assert_eq!(value::py_int_base10(" 12 "), Some(12));
    assert_eq!(value::py_int_base10("-3"), Some(-3));
    assert_eq!(value::py_int_base10("1_000"), Some(1000));
    assert_eq!(value::py_int_base10("007"), Some(7));
    for bad in ["", "1__0", "_1", "1_", "0x1", "1e3", "--1"] {
        assert_eq!(value::py_int_base10(bad), None, "{bad}");
    }
    assert_eq!(value::py_int_base0("0o17"), Some(15));
    assert_eq!(value::py_int_base0("0b101"), Some(5));
    assert_eq!(value::py_int_base0("0X_ff"), Some(255));
    assert_eq!(value::py_int_base0("000"), Some(0));
    assert_eq!(value::py_int_base0("017"), None);
    assert_eq!(value::py_auto_int("022"), Some(0o22));
    assert_eq!(value::py_auto_int("18"), Some(18));
}

#[test]
fn python_repr_quoting() {
    assert_eq!(value::py_repr("x"), "'x'");
    assert_eq!(value::py_repr("it's"), "\"it's\"");
    assert_eq!(value::py_repr("a\nb"), "'a\\nb'");
}

// ---------------------------------------------------------------- docs/settings.md

/// docs/settings.md must match the table. Regenerate with
/// `UPDATE_SETTINGS_MD=1 cargo test settings_md`.
#[test]
fn settings_md_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/settings.md");
    let fresh = settings_markdown();
    if std::env::var_os("UPDATE_SETTINGS_MD").is_some() {
        std::fs::write(path, &fresh).expect("write docs/settings.md");
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == fresh,
        "docs/settings.md is stale: run UPDATE_SETTINGS_MD=1 cargo test settings_md"
    );
}

#[test]
fn settings_md_mentions_every_setting() {
    let md = settings_markdown();
    for s in settings() {
        assert!(md.contains(&format!("| `{}` |", s.name)), "{}", s.name);
    }
}
