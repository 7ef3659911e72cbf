//! placeholder
/// placeholder
pub struct KeyHandle;
