//! Integration tests: each spawns Herald on port 0 with a fresh database and talks HTTP to it.

mod admin_api;
mod admin_outbound;
mod admin_pages;
mod app_layer;
mod banner_and_feeds;
mod breach;
mod browser;
mod cli;
mod cli_safety;
mod crash;
mod database;
mod dkim;
mod email;
mod fake_x;
mod helpers;
mod kill_switch;
mod least_privilege;
mod maintenance;
mod multi_instance;
mod public_pages;
mod security;
mod smtp;
mod statuspage_api;
mod tampering;
mod tripwire;
mod x;
