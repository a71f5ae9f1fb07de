//! Streams from the load generator through the real pipeline: the test
//! kit's (testkit/src/pipeline.rs).
#![allow(unused_imports)]

pub use authpulse_testkit::pipeline::*;
