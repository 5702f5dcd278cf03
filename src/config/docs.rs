//! `docs/settings.md`, generated from the settings table.
//!
//! This file owns the reference page's layout only. It must never describe a
//! setting itself: every fact comes from `table.rs`, so the page cannot drift
//! from what the parser accepts (a test compares the committed file with
//! this output).

use super::cli::default_doc;
use super::table::{Origin, Section, Status, SETTINGS};

fn status_text(s: &super::table::Setting) -> &'static str {
    match (s.origin, s.status) {
        (Origin::Ferricorn, _) => "ferricorn extension",
        (Origin::GunicornLegacy, Status::Implemented) => "implemented (Gunicorn 22 only)",
        (Origin::GunicornLegacy, Status::NotYetImplemented) => "not yet (Gunicorn 22 only)",
        (Origin::Gunicorn, Status::Implemented) => "implemented",
        (Origin::Gunicorn, Status::NotYetImplemented) => "not yet",
    }
}

/// Markdown table cells cannot hold a bare `|`.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn settings_markdown() -> String {
    let count =
        |f: &dyn Fn(&super::table::Setting) -> bool| SETTINGS.iter().filter(|s| f(s)).count();
    let gunicorn = count(&|s| s.origin == Origin::Gunicorn);
    let implemented = count(&|s| s.origin == Origin::Gunicorn && s.status == Status::Implemented);
    let extensions = count(&|s| s.origin == Origin::Ferricorn);

    let mut out = String::new();
    out.push_str("# Settings\n\n");
    out.push_str("<!-- Generated from src/config/table.rs by `UPDATE_SETTINGS_MD=1 cargo test settings_md`. Do not edit by hand. -->\n\n");
    out.push_str(&format!(
        "ferricorn knows all {gunicorn} settings of Gunicorn 23.0, under Gunicorn's names and flags, \
         and implements {implemented} of them so far. It also has {extensions} settings of its own.\n\n"
    ));
    out.push_str(
        "A setting marked *not yet* is recognised, but giving it any value other than its default \
         stops ferricorn with `ferricorn: error: --flag (name) is not supported yet` (exit status 2), \
         rather than silently running without it. Settings without flags can only be set in a config \
         file (`-c FILE`, `-c python:module`, or `./gunicorn.conf.py`).\n\n",
    );
    out.push_str(
        "Precedence, lowest first: defaults (some read from environment variables) < config file < \
         `GUNICORN_CMD_ARGS` < `FERRICORN_CMD_ARGS` < the command line.\n",
    );
    for section in Section::ALL {
        let rows: Vec<_> = SETTINGS.iter().filter(|s| s.section == section).collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n## {}\n\n", section.title()));
        out.push_str("| Setting | Flags | Default | Status | Meaning |\n|---|---|---|---|---|\n");
        for s in rows {
            let flags = if s.flags.is_empty() {
                "(config file only)".to_string()
            } else {
                s.flags
                    .iter()
                    .map(|f| {
                        if s.kind.takes_value() {
                            format!("`{f} {}`", s.meta)
                        } else {
                            format!("`{f}`")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let default = default_doc(s).unwrap_or_else(|| "False".to_string());
            out.push_str(&format!(
                "| `{}` | {} | `{}` | {} | {} |\n",
                s.name,
                cell(&flags),
                cell(&default),
                status_text(s),
                cell(s.help)
            ));
        }
    }
    out
}
