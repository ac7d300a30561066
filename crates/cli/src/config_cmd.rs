//! `code-mesh config show|path|init`.

use std::process::ExitCode;

use crate::args::{ConfigCommand, GlobalArgs};
use crate::exit::{CliError, Exit};
use crate::setup;

pub fn config(global: &GlobalArgs, command: ConfigCommand) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    match command {
        ConfigCommand::Show { origin } => {
            let text = if origin {
                context.loaded.render_with_origins()
            } else {
                context.loaded.render()
            };
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
        ConfigCommand::Path => {
            println!(
                "global config:  {}",
                context.paths.global_config_file().display()
            );
            println!(
                "project config: {}",
                code_mesh_config::project_config_file(&context.workspace).display()
            );
            println!(
                "database:       {}",
                context.paths.database_file().display()
            );
            println!("cache:          {}", context.paths.cache_dir.display());
        }
        ConfigCommand::Init { project, force } => {
            let path = if project {
                code_mesh_config::project_config_file(&context.workspace)
            } else {
                context.paths.global_config_file()
            };
            if path.exists() && !force {
                return Err(CliError::usage(
                    format!("`{}` already exists", path.display()),
                    "pass --force to overwrite it",
                ));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|err| {
                    CliError::new(
                        Exit::Failure,
                        format!("cannot create `{}`: {err}", parent.display()),
                    )
                })?;
            }
            std::fs::write(&path, code_mesh_config::default_config_file_text()).map_err(|err| {
                CliError::new(
                    Exit::Failure,
                    format!("cannot write `{}`: {err}", path.display()),
                )
            })?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
