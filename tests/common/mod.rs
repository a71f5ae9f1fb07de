//! Test harness: the shared test kit (testkit/, crate authpulse-testkit)
//! plus the helpers only the API tests use (admin.rs).
#![allow(dead_code, unused_imports)]

pub mod admin;
pub mod grafana;
pub mod pipeline;

pub use authpulse_testkit::{
    assert_sketch_close, eventually, free_port, group_protocol, produce, repo, wait_exit, Stack,
};

pub fn http_get(url: &str, auth: Option<&str>) -> (u16, String) {
    admin::http("GET", url, auth)
}
