//! Herald: an incident status page and multi-channel customer notifier.
//!
//! Read top-down: configuration and the command line come first, then the pure domain,
//! the store that persists it, the page cache that renders it, and the web surfaces.

/// The acts (publish, pause, resume, staff and token changes), one function each for every
/// surface; owns screening by the tripwire and the audit log.
pub mod app;
/// Command-line interface: `herald serve`, `migrate`, `staff`, `token`, ...
/// Outbound systems (SMTP, later X), each behind a trait with a double for tests.
pub mod channels;
pub mod cli;
/// Several instances on one PostgreSQL database: each hears the others' changes.
pub mod cluster;
/// Typed configuration from defaults, `herald.toml` and `HERALD_*` variables.
pub mod config;
/// Pure types and rules (components, incidents, maintenance, status), no IO.
pub mod domain;
/// Fan-out: the kill switch, message composition and the delivery worker.
pub mod notify;
/// Public bodies pre-rendered once per change, with ETags and compressed copies.
pub mod render;
/// Background jobs: maintenance windows that start and end on their own.
pub mod scheduler;
/// Passwords, tokens, sessions and CSRF: the pieces of staff authentication.
pub mod security;
/// Application wiring: build the app, bind a port, run until stopped.
pub mod startup;
/// The only place that speaks SQL: one `Store` over SQLite or PostgreSQL.
pub mod store;
/// HTTP: public pages and JSON, the admin UI, the admin API.
pub mod web;
