//! Pure real-time-bidding decisions (tour grows with the crate).
//!
//! - [`template`]: bid request bodies, parsed once, rendered with escaping
//!   right for JSON, form and XML.

pub mod auction;
mod error;
pub mod extract;
pub mod template;

pub use auction::{Destination, Outcome, Reply, TargetTerms, ValidBid, classify, compare, rank, validate};
pub use error::RtbError;
pub use extract::{BidResponse, PathConfig, Parsed, ResponsePath, ResponsePaths, extract, MAX_RESPONSE_BYTES};
pub use template::{CallContext, ContentType, PriceTerms, Template, Variable, validate_template};
