//! The records the extract stage produces. They are part of the gitview wire formats (the
//! gateway stores them too), so they live in [`gitview_core::records`]; this module re-exports
//! them under the runner's own name.

pub use gitview_core::records::*;
