//! Integration tests: the real server over real HTTP (in-process on port 0 through
//! basalt-test-support), and the `basalt` binary itself for the CLI contract and crash safety.

mod api_errors;
mod api_objects;
mod api_queries;
mod api_schemas_batch;
mod attacks;
mod auth;
mod auth_oidc;
mod cli;
mod cluster;
mod differences;
mod durability;
mod gate_reference;
mod hardening;
mod limits;
mod live_query;
mod push;
mod transfer;
mod webhooks;
