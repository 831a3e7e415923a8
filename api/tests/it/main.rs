//! The server's integration tests, one binary: each module starts the real
//! server on 127.0.0.1:0 (or runs its binary) and talks to it as a client.
//! One binary links the stack once, not once per file (disk and link time).

mod common;

mod accounts_cli;
mod auth;
mod blocklist;
mod cli;
mod cluster;
mod config_resources;
mod dni;
mod dni_script;
mod full_disk;
mod hardening_auth;
mod multi_node;
mod openapi;
mod payouts;
mod pixels;
mod provisioning;
mod publisher_role;
mod publishers;
mod reconcile;
mod reports;
mod resources;
mod rtb;
mod slow_clients;
mod store_option;
mod tags;
mod tenancy;
mod webhooks;
