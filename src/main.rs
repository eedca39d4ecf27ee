use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| EnvFilter::new("herald=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = herald::cli::Cli::parse();
    let result = match herald::config::Config::load() {
        Ok(config) => herald::cli::run(cli, config).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
