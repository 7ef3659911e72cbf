//! `keylife`: the operator command line of the keylife library. A thin
//! layer: it parses arguments (clap), opens the store, calls the library,
//! and prints tables or JSON. Every rule lives in the library.

mod args;
mod cmd;
mod fail;
mod html;
mod open;
mod output;
mod secret;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command, Format, StoreCmd};
use fail::{Exit, Fail, Result};

fn run(cli: &Cli) -> Result<()> {
    let g = &cli.global;
    match &cli.command {
        Command::Completion { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "keylife", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| Fail::new(Exit::Io, format!("man page: {e}")))?;
            return output::write_output(std::path::Path::new("-"), &buf);
        }
        Command::Store(StoreCmd::Init(a)) => return cmd::store::init(g, a),
        _ => {}
    }
    let store = open::open(g)?;
    let res = dispatch(cli, &store);
    // Buffered audit entries of successful uses reach the log before exit.
    let flushed = store.flush_audit();
    res?;
    Ok(flushed?)
}

fn dispatch(cli: &Cli, store: &keylife::KeyStore) -> Result<()> {
    let g = &cli.global;
    match &cli.command {
        Command::Store(c) => match c {
            StoreCmd::Init(_) => Err(Fail::usage("store init takes no open store")),
            StoreCmd::Info => cmd::store::info(g, store),
            StoreCmd::Verify => cmd::store::verify(g, store),
            StoreCmd::RotateKek(a) => cmd::store::rotate_kek(g, store, a),
            StoreCmd::Maintenance => cmd::store::maintenance(g, store),
        },
        Command::Key(c) => cmd::key::run(g, store, c),
        Command::Encrypt(a) => cmd::data::encrypt(store, a),
        Command::Decrypt(a) => cmd::data::decrypt(store, a),
        Command::Rewrap(a) => cmd::data::rewrap(g, store, a),
        Command::Sign(a) => cmd::data::sign(store, a),
        Command::Verify(a) => cmd::data::verify(g, store, a),
        Command::Mac(a) => cmd::data::mac(g, store, a),
        Command::DataKey(a) => cmd::data::data_key(g, store, a),
        Command::Principal(c) => cmd::govern::principal(g, store, c),
        Command::Approver(c) => cmd::govern::approver(g, store, c),
        Command::Approval(c) => cmd::govern::approval(g, store, c),
        Command::Policy(c) => cmd::govern::policy(g, store, c),
        Command::Audit(c) => cmd::audit::run(g, store, c),
        Command::Transport(c) => cmd::transport::run(g, store, c),
        Command::Backup(c) => cmd::backup::run(g, store, c),
        Command::Report(a) => cmd::audit::report(g, store, a),
        Command::Completion { .. } | Command::Man => Ok(()),
    }
}

/// Whether the raw arguments (or the environment) ask for JSON output,
/// for errors found before the arguments parse.
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
        || std::env::var("KEYLIFE_FORMAT").is_ok_and(|v| v == "json")
}

fn fail(f: &Fail, json: bool) -> ExitCode {
    if json {
        eprintln!("{}", f.to_json());
    } else {
        eprintln!("keylife: {}", f.message.replace('\n', " "));
    }
    ExitCode::from(f.exit as u8)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: not failures; clap prints them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, as every other failure: clap's first line, which
            // names the bad argument.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad usage");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let msg = format!("{first} (see keylife --help)");
            return fail(&Fail::usage(msg), json_requested());
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(&f, cli.global.format == Format::Json),
    }
}
