//! Builds the application (store, page cache, background jobs, router) so that `main` and the
//! tests start Herald the same way: `Application::build(config)`, `.port()`, `.run_until_stopped()`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::render::{PageCache, Site};
use crate::store::Store;
use crate::web::{self, AppState};

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens (and migrates) the database, renders the first pages and binds the listener.
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&config.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (HERALD_BIND): {e}", config.bind))?;
        // With no public URL configured, links point at the address actually bound (port 0 too).
        if config.public_url.is_empty() {
            config.public_url = format!("http://{}", listener.local_addr()?);
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
        let store = Store::connect(&config.database_url()).await?;
        store.migrate().await?;
        let cache = PageCache::new(Site::from_config(&config), store.clone()).await?;
        let state = AppState {
            store,
            cache,
            config: Arc::new(config),
        };
        Ok(Application { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The base URL links are built from.
    pub fn public_url(&self) -> String {
        self.state.config.public_url()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, with the page rebuilder and scheduler running.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { listener, state } = self;
        state.cache.spawn_rebuilder();
        crate::scheduler::spawn(state.store.clone(), state.cache.clone());
        let app = web::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        state.store.close().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
