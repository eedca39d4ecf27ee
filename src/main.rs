use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates under contention an arena of its own, up to eight per
/// core, and keeps their freed memory: a render on a blocking thread after every change left
/// Herald holding hundreds of megabytes it no longer used. Two arenas serve a server whose work
/// is a few threads well (measured with `bench/history`: peak RSS at 10,000 incidents fell by a
/// third). Set before any thread starts; `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator tunable; it is called before any other
        // thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

async fn run() -> std::process::ExitCode {
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
