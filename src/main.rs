//! The `strait` command: run the gateway or validate a configuration file.
//!
//! ```text
//! strait [-c conf/config.yaml]            run
//! strait validate [-c conf/config.yaml]   check the file and exit
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use strait::config::BootstrapConfig;

/// mimalloc rather than glibc's malloc (see its entry in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: strait [run|validate] [-c|--config FILE]\n\n  run       start the gateway (default)\n  validate  check the configuration file and exit non-zero with the reason\n";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut command = "run".to_string();
    let mut config = PathBuf::from("conf/config.yaml");
    while let Some(a) = args.next() {
        match a.as_str() {
            "run" | "validate" => command = a,
            "-c" | "--config" => match args.next() {
                Some(p) => config = PathBuf::from(p),
                None => {
                    eprint!("{a} needs a file\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("strait {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprint!("unknown argument `{other}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let cfg = match BootstrapConfig::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if command == "validate" {
        println!("{}: configuration is valid", config.display());
        return ExitCode::SUCCESS;
    }
    match run(cfg, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strait: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: BootstrapConfig, config: PathBuf) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Admin API changes are logged whatever the level (an audit trail).
        // rustls warns per handshake about what clients send (an IP address
        // as SNI, from wrk or OpenSSL clients): strait counts failures itself.
        tracing_subscriber::EnvFilter::new(format!(
            "{},strait::admin::audit=info,rustls=error",
            cfg.nginx_config.error_log_level.as_filter()
        ))
    });
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads())
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(strait::server::run(cfg, &config))?;
    Ok(())
}
