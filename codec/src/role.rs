//! Which end of a connection we are: the leaf every other module may name, as
//! quinn-proto's `Side`.

/// Which end of the connection we are. The server reads masked frames and sends
/// unmasked ones; the client the reverse
/// ([§5.1](https://www.rfc-editor.org/rfc/rfc6455#section-5.1)).
///
/// ```
/// assert_ne!(wisp_codec::Role::Client, wisp_codec::Role::Server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection; masks every frame it sends.
    Client,
    /// The end that accepted it; never masks.
    Server,
}
