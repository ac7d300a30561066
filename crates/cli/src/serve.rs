//! `code-mesh serve`: this workspace's sessions over HTTP (the `code-mesh-server` API and its
//! web page), opened as `run` opens them.
//!
//! Every API request needs a bearer token. The first start makes one (32 random bytes, hex),
//! stores it with the API keys, and prints the page's address with it once; later starts
//! reuse it without printing it (`--print-token` prints it, `--new-token` replaces it).
//! Permission requests are not answered here: they reach the API client as events.

mod host;
mod mask;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use code_mesh_credentials::{SERVER_TOKEN, Secret};
use code_mesh_server::{ServerOptions, SessionHost};

use crate::args::{GlobalArgs, RunArgs, ServeArgs};
use crate::exit::{CliError, Exit};
use crate::setup::Context;
use host::CliHost;

/// Read when `--token` is absent: a token for this run only.
pub const TOKEN_VAR: &str = "CODE_MESH_SERVER_TOKEN";

/// Shorter tokens are refused: the token is all that stands between the network and a shell.
const MIN_TOKEN_CHARS: usize = 16;

/// How long open requests get to finish after Ctrl-C or SIGTERM before the server exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A session's engine stops after this long with nothing to do and nobody watching (its
/// history stays stored; the next prompt resumes it), so a long-running server holds only the
/// sessions in use.
const IDLE_ENGINE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

pub fn serve(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode, CliError> {
    let run_args = RunArgs {
        model: args.model.clone(),
        strategy: args.strategy,
        sandbox: args.sandbox,
        yes: args.yes,
        ..RunArgs::default()
    };
    let context = crate::run::context_for(global, &run_args)?;
    let credentials = crate::auth::credential_store(&context.paths);
    if args.print_token {
        let token = credentials.server_token_or_new()?;
        println!("{}", token.token.expose());
        return Ok(ExitCode::SUCCESS);
    }
    let address = listen_address(&args)?;
    let token = choose_token(&context, &args, &credentials)?;
    let sqlite = crate::run::open_store(&context)?;
    let workspace = context.workspace.display().to_string();
    let host = Arc::new(CliHost::new(context, sqlite, args.yes));
    let options = ServerOptions {
        token: token.secret.expose().to_owned(),
        cors_origins: args.cors_origins.clone(),
        workspace: workspace.clone(),
    };
    let (router, state) =
        code_mesh_server::router(host.clone() as Arc<dyn SessionHost>, host.store(), options)
            .map_err(|error| {
                CliError::usage(error, "pass an origin such as `http://localhost:5173`")
            })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    let outcome = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| bind_error(address, &error))?;
        let bound = listener
            .local_addr()
            .map_err(|error| bind_error(address, &error))?;
        print_startup(&workspace, bound, &token, &args);
        let mut server = tokio::spawn(code_mesh_server::serve(listener, router, state.stopped()));
        tokio::spawn(state.clone().close_idle_sessions(IDLE_ENGINE));
        tokio::select! {
            finished = &mut server => return server_ended(finished),
            () = stop_signal() => {}
        }
        eprintln!("stopping: running turns are cancelled; their sessions can be resumed (Ctrl-C again to quit at once)");
        // A tool that ignores cancellation must not keep the server up: the engines get the
        // grace period, and a second signal quits at once.
        tokio::select! {
            stopped = tokio::time::timeout(SHUTDOWN_GRACE, state.shutdown()) => {
                if stopped.is_err() {
                    eprintln!("warning: some sessions did not stop in time; stopped anyway");
                }
            }
            () = stop_signal() => std::process::exit(Exit::Interrupted as i32),
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
            Ok(finished) => server_ended(finished),
            Err(_) => {
                eprintln!("warning: some requests did not finish in time; stopped anyway");
                Ok(())
            }
        }
    });
    // A session's tool may still be running a command; don't wait for it.
    runtime.shutdown_background();
    outcome.map(|()| ExitCode::SUCCESS)
}

/// Where to listen: `--host` and `--port`, refusing an address other machines can reach
/// unless `--allow-remote` says so (and warning when it does).
fn listen_address(args: &ServeArgs) -> Result<SocketAddr, CliError> {
    let ip = if args.host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        args.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map_err(|_| {
                CliError::usage(
                    format!("`{}` is not an IP address to listen on", args.host),
                    "pass an address such as 127.0.0.1 (the default), ::1 or, with --allow-remote, 0.0.0.0",
                )
            })?
    };
    if !ip.is_loopback() {
        if !args.allow_remote {
            return Err(CliError::usage(
                format!(
                    "refusing to listen on {ip}: other machines could reach it, and whoever has the token can run commands in this workspace"
                ),
                "keep the default --host 127.0.0.1 (reach it from elsewhere through an SSH tunnel), or pass --allow-remote if you mean it",
            ));
        }
        eprintln!(
            "warning: listening on {ip} (--allow-remote): anyone who can reach this address and has the token can read this workspace's sessions and run commands in it as you; the connection is plain HTTP, so use it only on a network you trust"
        );
    }
    Ok(SocketAddr::new(ip, args.port))
}

/// The token of this run and where it comes from.
struct ChosenToken {
    secret: Secret,
    source: TokenSource,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    /// Made just now (first start, or `--new-token`) and stored.
    Generated,
    Stored,
    /// `--token` or the environment, for this run only.
    Given,
}

fn choose_token(
    context: &Context,
    args: &ServeArgs,
    credentials: &code_mesh_credentials::CredentialStore,
) -> Result<ChosenToken, CliError> {
    let given = match &args.token {
        Some(token) => Some((token.clone(), "--token")),
        None => context.env_var(TOKEN_VAR).map(|token| (token, TOKEN_VAR)),
    };
    if let Some((token, from)) = given {
        let hint = "pass at least 16 characters without spaces, or drop it to use the stored token (`code-mesh serve --print-token` prints it)";
        let secret = Secret::new(token)
            .map_err(|_| CliError::usage(format!("the token of {from} is not usable"), hint))?;
        if secret.expose().chars().count() < MIN_TOKEN_CHARS {
            return Err(CliError::usage(
                format!("the token of {from} is shorter than {MIN_TOKEN_CHARS} characters"),
                hint,
            ));
        }
        return Ok(ChosenToken {
            secret,
            source: TokenSource::Given,
        });
    }
    if args.new_token {
        return Ok(ChosenToken {
            secret: credentials.replace_server_token()?,
            source: TokenSource::Generated,
        });
    }
    let stored = credentials.server_token_or_new()?;
    Ok(ChosenToken {
        secret: stored.token,
        source: if stored.generated {
            TokenSource::Generated
        } else {
            TokenSource::Stored
        },
    })
}

/// The startup lines, on stderr: the workspace, the bound address (`--port 0` tests read
/// the port from it), and how to open the page. The token itself only when it was just made.
fn print_startup(workspace: &str, bound: SocketAddr, token: &ChosenToken, args: &ServeArgs) {
    let page = format!("http://{bound}/");
    eprintln!("serving the sessions of {workspace}");
    eprintln!("listening on http://{bound}");
    match token.source {
        TokenSource::Generated => {
            eprintln!("open {page}#token={}", token.secret.expose());
            eprintln!(
                "that is a new API token, stored with the API keys (`{SERVER_TOKEN}`) and shown only this once; `code-mesh serve --print-token` prints it again"
            );
        }
        TokenSource::Stored => eprintln!(
            "open {page} and give it the stored API token: `code-mesh serve --print-token` prints it"
        ),
        TokenSource::Given => eprintln!(
            "open {page} and give it the token of {}",
            if args.token.is_some() {
                "--token"
            } else {
                TOKEN_VAR
            }
        ),
    }
    eprintln!("the API is described at {page}openapi.json; Ctrl-C stops the server");
}

fn bind_error(address: SocketAddr, error: &std::io::Error) -> CliError {
    let hint = if error.kind() == std::io::ErrorKind::AddrInUse {
        "another program uses that port: pick another with --port (0 picks a free one)"
    } else {
        "pick another address with --host or port with --port"
    };
    CliError::new(
        Exit::Failure,
        format!("cannot listen on {address}: {error}"),
    )
    .with_hint(hint)
}

fn server_ended(
    finished: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> Result<(), CliError> {
    match finished {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(CliError::new(
            Exit::Failure,
            format!("the server stopped: {error}"),
        )),
        Err(error) => Err(CliError::new(
            Exit::Failure,
            format!("the server failed: {error}"),
        )),
    }
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
