//! `code-mesh-testkit SCRIPT.toml`: serve a script to try Code Mesh offline, or to drive
//! it from a shell test. Prints the base URL on stdout; violations go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use code_mesh_testkit::{Script, ScriptedServer};

/// A scripted OpenAI-compatible model server.
#[derive(Debug, Parser)]
#[command(name = "code-mesh-testkit", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Exit once every turn has been served.
    #[arg(long)]
    exit_when_done: bool,
    /// The script (TOML).
    script: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let script = Script::from_file(&args.script)?;
    let server = ScriptedServer::bind(script, &args.host, args.port).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", server.base_url())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.context("cannot wait for Ctrl-C")?,
        () = server.wait_until_done(), if args.exit_when_done => {}
    }
    let violations = server.violations();
    server.shutdown().await;
    for violation in &violations {
        eprintln!("violation: {violation}");
    }
    Ok(if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
