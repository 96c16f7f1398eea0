//! What gitview's binaries share without Kubernetes: no kube, no k8s-openapi, no I/O. The
//! operator, the runner and the gateway depend on it; the gateway depends on nothing else of
//! gitview's.
//!
//! * [`records`]: the commit records the runner extracts and the gateway stores;
//! * [`results`]: the gateway's HTTP API, the bodies runners send and the answers they and API
//!   clients get;
//! * [`token`]: the claims of the gateway token the operator signs, with one constructor per
//!   kind of token;
//! * [`remote`]: the one repository URL type, its canonical form and fingerprint, the rules an
//!   Analysis' URL follows, its host, and the redaction of URLs in messages;
//! * [`scrub`]: the secret and email scrubbing both the runner and the gateway apply;
//! * [`artifact`]: the one rule for an artifact's name;
//! * [`story`]: the story as data (`story.json`: claims with their evidence) and the escaping of
//!   repository text in Markdown;
//! * [`time`]: how records' times are written and read, and the UTC calendar.
//!
//! The Kubernetes API and the run config a runner pod reads are `gitview-crds`'.
#![forbid(unsafe_code)]

pub mod artifact;
pub mod records;
pub mod remote;
pub mod results;
pub mod scrub;
pub mod story;
pub mod time;
pub mod token;
