//! The crate's one error type.

use std::net::IpAddr;

/// What can go wrong when configuring or guarding a bidder.
///
/// Bidders' bad answers are not errors: they are classified outcomes
/// ([`crate::Outcome::Invalid`] and friends) so one bad bidder never breaks an
/// auction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtbError {
    /// A request body template names variables that do not exist.
    #[error("unknown template variables: {}", .0.join(", "))]
    UnknownVariables(Vec<String>),
    /// A response path that is neither a key, a dotted path, nor RFC 9535 JSONPath.
    #[error("invalid response path {path:?}: {reason}")]
    BadPath {
        /// The path as configured.
        path: String,
        /// Why it cannot be used, lowercase.
        reason: String,
    },
    /// An outbound bid request would reach a loopback, private, link-local or
    /// metadata address.
    #[error(
        "refused to connect to {0}: loopback, private, link-local and metadata addresses are not allowed"
    )]
    ForbiddenAddress(IpAddr),
}
