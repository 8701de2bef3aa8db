//! The settings table of `docs/settings.md`, rendered from the command line's own definition:
//! every flag of `serve` with its environment variable, help and default, so that the docs
//! cannot drift from `--help`.

use super::Cli;
use clap::{Arg, ArgAction, CommandFactory};

/// The Markdown table of every `serve` setting, in `--help`'s order.
pub fn settings_table() -> String {
    let mut command = Cli::command();
    command.build();
    let serve = command
        .find_subcommand("serve")
        .expect("serve is a command");
    let mut table = String::from("| env | flag | meaning | default |\n|---|---|---|---|\n");
    for arg in serve.get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let (meaning, default) = meaning_and_default(arg);
        table.push_str(&format!(
            "| `{}` | `--{long}` | {} | {} |\n",
            env.to_string_lossy(),
            cell(&meaning),
            cell(&default),
        ));
    }
    table
}

/// The help on one line, and the default: clap's, or the `[default: ...]` the help ends with
/// where it depends on other settings, else `off` for a switch and `none` for the rest.
fn meaning_and_default(arg: &Arg) -> (String, String) {
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|help| help.to_string())
        .unwrap_or_default();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((meaning, default)) = help.rsplit_once(" [default: ")
        && let Some(default) = default.strip_suffix(']')
    {
        return (meaning.to_owned(), default.to_owned());
    }
    let default = if matches!(arg.get_action(), ArgAction::SetTrue) {
        "off".to_owned()
    } else {
        let values: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect();
        if values.is_empty() {
            "none".to_owned()
        } else {
            values.join(", ")
        }
    };
    (help, default)
}

/// A table cell: a `|` would end it early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
