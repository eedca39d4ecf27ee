use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HERALD_LOG")
                // html5ever (under ammonia) warns "foster parenting not implemented" for every
                // mis-nested table it mends, though it does implement it: noise on each rebuild.
                .unwrap_or_else(|_| EnvFilter::new("herald=info,warn,html5ever=error")),
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
